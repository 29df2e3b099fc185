package main

// publish_run: what `run -p` with a CNI network costs, done the nerdctl way
// with plain go-cni: a netns (containerd's pkg/netns), CNI ADD of bridge +
// host-local + portmap + firewall (and loopback) with one published port,
// the netns path in the spec, create, start httpd, connect to the published
// port until it answers; then kill, delete, CNI DEL and netns removal.

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"

	gocni "github.com/containerd/go-cni"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/vishvananda/netlink"
	"pylibctrd/internal/c8d/cio"
	"pylibctrd/internal/c8d/netns"

	"pylibctrd/cmd/internal/harness"
)

func (b *bench) gocni() (gocni.CNI, string, error) {
	dir := b.stateDir + "-gobench-network"
	conf, err := json.Marshal(map[string]any{
		"cniVersion": "1.0.0", "name": "gobench",
		"plugins": []map[string]any{
			{"type": "bridge", "bridge": "plcgobench0", "isGateway": true, "ipMasq": true, "hairpinMode": true,
				"ipam": map[string]any{"type": "host-local", "ranges": [][]map[string]string{{{"subnet": "10.252.0.0/24"}}},
					"routes": []map[string]string{{"dst": "0.0.0.0/0"}}, "dataDir": filepath.Join(dir, "ipam")}},
			{"type": "portmap", "capabilities": map[string]bool{"portMappings": true}},
			{"type": "firewall"},
		},
	})
	if err != nil {
		return nil, "", err
	}
	cni, err := gocni.New(gocni.WithPluginDir([]string{"/usr/lib/cni", "/opt/cni/bin"}), gocni.WithLoNetwork, gocni.WithConfListBytes(conf))
	return cni, dir, err
}

func freeTCPPort() (int, error) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (b *bench) publishRun() error {
	ctx, cancel := b.call()
	defer cancel()
	cni, dir, err := b.gocni()
	if err != nil {
		return err
	}
	id := b.name()
	ns, err := netns.NewNetNS(filepath.Join(dir, "netns"))
	if err != nil {
		return err
	}
	defer ns.Remove()
	port, err := freeTCPPort()
	if err != nil {
		return err
	}
	pm := gocni.WithCapabilityPortMap([]gocni.PortMapping{{HostPort: int32(port), ContainerPort: 80, Protocol: "tcp"}})
	if _, err := cni.Setup(ctx, id, ns.GetPath(), pm); err != nil {
		return err
	}
	defer cni.Remove(context.WithoutCancel(ctx), id, ns.GetPath(), pm)
	spec := harness.Spec(b.rootfs, []string{"httpd", "-f", "-p", "80"}, false, "/pylibctrd-bench/"+id)
	for i, n := range spec.Linux.Namespaces {
		if n.Type == specs.NetworkNamespace {
			spec.Linux.Namespaces[i].Path = ns.GetPath()
		}
	}
	c, err := b.lc.NewContainer(ctx, id, spec, harness.Shim, nil)
	if err != nil {
		return err
	}
	defer c.Delete(context.WithoutCancel(ctx))
	t, err := c.NewTask(ctx, "", false, harness.Attach(false, func(*cio.DirectIO, *harness.Output) {}))
	if err != nil {
		return err
	}
	if err := t.Start(ctx); err != nil {
		_ = t.ForceDelete(ctx)
		return err
	}
	answered := false
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if conn, err := net.DialTimeout("tcp4", fmt.Sprintf("127.0.0.1:%d", port), time.Second); err == nil {
			conn.Close()
			answered = true
			break
		}
	}
	if err := t.Kill(ctx, syscall.SIGKILL); err != nil {
		return err
	}
	if !b.rec.WaitFor(id, "exit", id, 30*time.Second) {
		return fmt.Errorf("no exit event for %s", id)
	}
	if _, err := t.Delete(ctx); err != nil {
		return err
	}
	if !answered {
		return fmt.Errorf("port %d never answered", port)
	}
	return nil
}

// removeBenchNetwork removes what publish_run leaves shared: its bridge and
// its state (as nerdctl network rm: netlink, then the files).
func (b *bench) removeBenchNetwork() {
	if link, err := netlink.LinkByName("plcgobench0"); err == nil {
		_ = netlink.LinkDel(link)
	}
	_ = os.RemoveAll(b.stateDir + "-gobench-network")
}
