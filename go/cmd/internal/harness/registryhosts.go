package harness

import (
	"os"
	"path/filepath"

	"github.com/containerd/containerd/remotes/docker"
	"github.com/docker/docker/registry"
	"github.com/moby/buildkit/util/resolver"
	resolverconfig "github.com/moby/buildkit/util/resolver/config"
)

// RegistryHosts is dockerd's Daemon.RegistryHosts (Moby v26.1.5,
// daemon/daemon.go), the hosts function dockerd gives its containerd image
// service, over a registry service of the caller's: a method of Daemon,
// which cannot be built without a dockerd, so its lines are restated here
// unchanged: mirrors for docker.io, plain HTTP and no certificate checks for
// insecure registries (127.0.0.0/8 among them), certs.d for every host.
func RegistryHosts(svc *registry.Service) docker.RegistryHosts {
	return func(host string) ([]docker.RegistryHost, error) {
		m := map[string]resolverconfig.RegistryConfig{
			"docker.io": {Mirrors: svc.ServiceConfig().Mirrors},
		}
		conf := svc.ServiceConfig().IndexConfigs
		for k, v := range conf {
			c := m[k]
			if !v.Secure {
				t := true
				c.PlainHTTP = &t
				c.Insecure = &t
			}
			m[k] = c
		}
		if c, ok := m[host]; !ok && svc.IsInsecureRegistry(host) {
			t := true
			c.PlainHTTP = &t
			c.Insecure = &t
			m[host] = c
		}

		for k, v := range m {
			v.TLSConfigDir = []string{registry.HostCertsDir(k)}
			m[k] = v
		}

		certsDir := registry.CertsDir()
		if fis, err := os.ReadDir(certsDir); err == nil {
			for _, fi := range fis {
				if _, ok := m[fi.Name()]; !ok {
					m[fi.Name()] = resolverconfig.RegistryConfig{
						TLSConfigDir: []string{filepath.Join(certsDir, fi.Name())},
					}
				}
			}
		}

		return resolver.NewRegistryConfig(m)(host)
	}
}
