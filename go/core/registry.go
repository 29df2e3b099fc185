package core

// Registries through Moby's own parts: the containerd image service's
// PullImage, PushImage, TagImage and ExportImage; Moby's registry service
// (github.com/docker/docker/registry) for insecure registries, mirrors,
// endpoints, certs.d and login (Service.Auth); buildkit's resolver config
// for the registry hosts (what dockerd's Daemon.RegistryHosts builds); and
// the docker CLI's config package for ~/.docker/config.json credentials.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/docker/cli/cli/config"
	clitypes "github.com/docker/cli/cli/config/types"
	"github.com/docker/docker/api/types/backend"
	registrytypes "github.com/docker/docker/api/types/registry"
	"github.com/docker/docker/errdefs"
	"github.com/docker/docker/image"
	"github.com/docker/docker/pkg/jsonmessage"
	"github.com/docker/docker/registry"
	"github.com/moby/buildkit/util/resolver"
	resolverconfig "github.com/moby/buildkit/util/resolver/config"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"pylibctrd/internal/c8d"
	"pylibctrd/internal/c8d/docker"
	"pylibctrd/internal/c8d/leases"
	"pylibctrd/internal/c8d/platforms"
	remoteerrors "pylibctrd/internal/c8d/remoteerrors"
	"pylibctrd/internal/moby"
)

// RegistryOptions are dockerd's daemon.json registry keys
// ("insecure-registries", "registry-mirrors",
// "allow-nondistributable-artifacts") and our "certs-dir" (dockerd's
// /etc/docker/certs.d, or $XDG_CONFIG_HOME/docker/certs.d when rootless).
type RegistryOptions struct {
	registry.ServiceOptions
	// CertsDir replaces /etc/docker/certs.d. Moby's registry package keeps
	// it process-wide (registry.SetCertsDir): in v26 the last client
	// configured with one sets it for all; in v28 it is set once per process,
	// at its first use, and a different one is refused (errdefs.Conflict).
	CertsDir string `json:"certs-dir,omitempty"`
}

// Progress is one line of Moby's progress stream: a layer's (or the
// image's) ID, the action ("Pulling fs layer", "Downloading", "Download
// complete", "Already exists", "Pull complete", "Pushing", "Pushed", ...)
// and, where it has them, the byte counts. A line with an empty ID is a
// message about the whole operation ("Digest: ...", "Status: ...").
type Progress struct {
	ID      string `json:"id"`
	Action  string `json:"action"`
	Current int64  `json:"current"`
	Total   int64  `json:"total"`
}

// ProgressFunc receives progress; nil for none.
type ProgressFunc func(Progress)

type registryState struct {
	mu  sync.Mutex
	svc *registry.Service
}

// ConfigureRegistry replaces the client's registry configuration, as
// dockerd's reload does (Moby's Service.ReplaceConfig).
func (c *Client) ConfigureRegistry(o RegistryOptions) error {
	if c.closed.Load() {
		return ErrClosed
	}
	if o.CertsDir != "" && !filepath.IsAbs(o.CertsDir) {
		return errdefs.InvalidParameter(fmt.Errorf("certs-dir must be an absolute path, got %q", o.CertsDir))
	}
	svc := c.registryService()
	commit, err := svc.ReplaceConfig(o.ServiceOptions)
	if err != nil {
		return errdefs.InvalidParameter(err)
	}
	if o.CertsDir != "" {
		// Moby v26's SetCertsDir replaces the directory; Moby v28's sets it
		// once per process (a sync.Once, which its first CertsDir call also
		// spends) and ignores later calls. Refused rather than ignored, and
		// before the rest of the configuration is committed.
		registry.SetCertsDir(o.CertsDir)
		if now := registry.CertsDir(); filepath.Clean(now) != filepath.Clean(o.CertsDir) {
			return errdefs.Conflict(fmt.Errorf("certs-dir %s cannot replace %s: Moby %s's registry package"+
				" sets the certificates directory once per process, at its first use"+
				" (give certs-dir to the process's first Client.connect, before any pull, push or login)",
				o.CertsDir, now, c8d.MobyVersion))
		}
	}
	commit()
	return nil
}

func (c *Client) registryService() *registry.Service {
	c.registry.mu.Lock()
	defer c.registry.mu.Unlock()
	if c.registry.svc == nil {
		// Empty options cannot fail.
		c.registry.svc, _ = registry.NewService(registry.ServiceOptions{})
	}
	return c.registry.svc
}

// registryHosts is what dockerd's Daemon.RegistryHosts does, with this
// client's registry service: mirrors for docker.io, plain HTTP and no
// certificate checks for insecure registries (Moby counts 127.0.0.0/8 as
// one), and certs.d/<host> for every host. Every host's transport gives up
// on a registry that sends no response headers within the client's timeout.
func (c *Client) registryHosts(host string) ([]docker.RegistryHost, error) {
	svc := c.registryService()
	cfg := svc.ServiceConfig()
	m := map[string]resolverconfig.RegistryConfig{
		"docker.io": {Mirrors: cfg.Mirrors},
	}
	yes := true
	for name, index := range cfg.IndexConfigs {
		rc := m[name]
		if !index.Secure {
			rc.PlainHTTP, rc.Insecure = &yes, &yes
		}
		m[name] = rc
	}
	if _, ok := m[host]; !ok && svc.IsInsecureRegistry(host) {
		m[host] = resolverconfig.RegistryConfig{PlainHTTP: &yes, Insecure: &yes}
	}
	for name, rc := range m {
		rc.TLSConfigDir = []string{registry.HostCertsDir(name)}
		m[name] = rc
	}
	if entries, err := os.ReadDir(registry.CertsDir()); err == nil {
		for _, e := range entries {
			if _, ok := m[e.Name()]; !ok {
				m[e.Name()] = resolverconfig.RegistryConfig{TLSConfigDir: []string{filepath.Join(registry.CertsDir(), e.Name())}}
			}
		}
	}
	hosts, err := resolver.NewRegistryConfig(m)(host)
	if err != nil {
		return nil, err
	}
	for i := range hosts {
		if hosts[i].Client != nil {
			cl := *hosts[i].Client
			cl.Transport = headerTimeout{next: cl.Transport, timeout: c.timeout}
			hosts[i].Client = &cl
		}
	}
	return hosts, nil
}

// headerTimeout fails a request whose response headers do not arrive within
// timeout (a registry that is down or does not answer), without bounding
// the body (a large layer).
type headerTimeout struct {
	next    http.RoundTripper
	timeout time.Duration
}

func (h headerTimeout) RoundTrip(req *http.Request) (*http.Response, error) {
	next := h.next
	if next == nil {
		next = http.DefaultTransport
	}
	ctx, cancel := context.WithCancel(req.Context())
	timedOut := make(chan struct{})
	timer := time.AfterFunc(h.timeout, func() { close(timedOut); cancel() })
	resp, err := next.RoundTrip(req.WithContext(ctx))
	if !timer.Stop() {
		if err == nil {
			resp.Body.Close()
		}
		cancel()
		return nil, errdefs.Unavailable(fmt.Errorf("registry %s did not answer within %s", req.URL.Host, h.timeout))
	}
	if err != nil {
		cancel()
		return nil, err
	}
	resp.Body = cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b cancelOnClose) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

// ParseRef parses a reference as the docker CLI does: familiar names are
// normalized (busybox -> docker.io/library/busybox) and a name without tag
// or digest gets ":latest".
func ParseRef(ref string) (reference.Named, error) {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return nil, errdefs.InvalidParameter(err) // dockerd's message (postImagesCreate)
	}
	return reference.TagNameOnly(named), nil
}

// PullOptions are Pull's arguments.
type PullOptions struct {
	Platform string                    // "os/arch[/variant]"; "" for this machine's
	Auth     *registrytypes.AuthConfig // nil: none
	Progress ProgressFunc
}

// Pull is Moby's PullImage (as `docker pull`) under a lease of our own: the
// lease holds what the pull writes until the image record does, and it is
// deleted with a live context whatever happens, so a failed or cancelled
// pull leaves no lease, ingest, content or image behind. (containerd's own
// Pull deletes its lease with the pull's context, which a cancel has
// already ended, leaving a 24 h lease.)
func (c *Client) Pull(ctx context.Context, ref string, o PullOptions) (Image, error) {
	named, err := ParseRef(ref)
	if err != nil {
		return Image{}, err
	}
	var platform *ocispec.Platform
	if o.Platform != "" {
		p, err := platforms.Parse(o.Platform)
		if err != nil {
			return Image{}, errdefs.InvalidParameter(err) // it names the platform
		}
		platform = &p
	}
	s := c.imageService()
	return unbounded(c, ctx, func(ctx context.Context) (Image, error) {
		err := c.withLease(ctx, func(ctx context.Context) error {
			w := newProgressWriter(o.Progress)
			err := s.svc.PullImage(ctx, named, platform, nil, o.Auth, w)
			w.Close()
			if err == nil {
				err = w.err
			}
			return classifyRegistryError(err)
		})
		if err != nil {
			return Image{}, err
		}
		name := reference.FamiliarString(named)
		img, err := c.imageInfoFor(ctx, name, platform)
		if platform != nil && errdefs.IsNotFound(err) {
			// Moby's PullImage filters only an index's manifests by the
			// platform: an image of one manifest is stored whatever its
			// platform, and the pull succeeds. Describe it as GetImage
			// (docker image inspect) does.
			return c.imageInfoFor(ctx, name, nil)
		}
		return img, err
	})
}

// Push is Moby's PushImage of one tag (or digest); it answers the digest
// the registry now has under that reference.
func (c *Client) Push(ctx context.Context, ref string, auth *registrytypes.AuthConfig, progress ProgressFunc) (digest.Digest, error) {
	named, err := ParseRef(ref)
	if err != nil {
		return "", err
	}
	s := c.imageService()
	return unbounded(c, ctx, func(ctx context.Context) (digest.Digest, error) {
		img, err := c.c8d.ImageService().Get(ctx, named.String())
		if cerrdefs.IsNotFound(err) {
			return "", errdefs.NotFound(fmt.Errorf("tag does not exist: %s", reference.FamiliarString(named)))
		} else if err != nil {
			return "", err
		}
		w := newProgressWriter(progress)
		err = moby.PushImage(ctx, s.svc, named, auth, w)
		w.Close()
		if err == nil {
			err = w.err
		}
		if err != nil {
			return "", classifyRegistryError(err)
		}
		return img.Target.Digest, nil
	})
}

// Tag is Moby's TagImage (`docker tag`): target names the image source names.
func (c *Client) Tag(ctx context.Context, source, target string) error {
	named, err := reference.ParseNormalizedNamed(target)
	if err != nil {
		return errdefs.InvalidParameter(err)
	}
	if _, digested := named.(reference.Digested); digested {
		return errdefs.InvalidParameter(fmt.Errorf("refusing to create a tag with a digest reference"))
	}
	named = reference.TagNameOnly(named)
	s := c.imageService()
	return c.do(ctx, func(ctx context.Context) error {
		img, err := s.svc.GetImage(ctx, source, backend.GetImageOpts{})
		if err != nil {
			return err
		}
		return s.svc.TagImage(ctx, image.ID(img.ID()), named)
	})
}

// Save is Moby's ExportImage (`docker save`): a tar of the named images to w.
func (c *Client) Save(ctx context.Context, refs []string, w io.Writer) error {
	if len(refs) == 0 {
		return errdefs.InvalidParameter(errors.New("no images to save"))
	}
	s := c.imageService()
	_, err := unbounded(c, ctx, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, moby.ExportImage(ctx, s.svc, refs, w)
	})
	return err
}

// Login checks the credentials with the registry (Moby's Service.Auth, what
// dockerd's /auth does) and stores them with the docker CLI's config
// package in configDir's config.json (or its credential helper), as
// `docker login` does. It answers the registry's status ("Login Succeeded").
func (c *Client) Login(ctx context.Context, auth registrytypes.AuthConfig, configDir string) (string, error) {
	if auth.ServerAddress == "" {
		auth.ServerAddress = registry.IndexServer
	}
	svc := c.registryService()
	return get(c, ctx, func(ctx context.Context) (string, error) {
		status, token, err := svc.Auth(ctx, &auth, "pylibctrd")
		if err != nil {
			return "", classifyRegistryError(err)
		}
		if token != "" {
			auth.Password = ""
			auth.IdentityToken = token
		}
		cfg, err := config.Load(configDir)
		if err != nil {
			return "", errdefs.System(err)
		}
		store := cfg.GetCredentialsStore(auth.ServerAddress)
		if err := store.Store(clitypes.AuthConfig(auth)); err != nil {
			return "", errdefs.System(fmt.Errorf("storing the credentials: %w", err))
		}
		if status == "" {
			status = "Login Succeeded"
		}
		return status, nil
	})
}

// Logout removes server's credentials from configDir's config.json (or its
// credential helper), as `docker logout` does (also under the server's
// hostname and its http:// and https:// forms). It reports whether there
// were any; none is not an error (docker prints "Not logged in").
func Logout(server, configDir string) (bool, error) {
	if server == "" {
		server = registry.IndexServer
	}
	keys := []string{server}
	if server != registry.IndexServer {
		host := registry.ConvertToHostname(server)
		keys = append(keys, host, "http://"+host, "https://"+host)
	}
	cfg, err := config.Load(configDir)
	if err != nil {
		return false, errdefs.System(err)
	}
	loggedIn := false
	for _, key := range keys {
		if _, ok := cfg.AuthConfigs[key]; ok {
			loggedIn = true
		}
	}
	if !loggedIn {
		return false, nil
	}
	var firstErr error
	for _, key := range keys {
		if err := cfg.GetCredentialsStore(key).Erase(key); err != nil && firstErr == nil {
			firstErr = errdefs.System(err)
		}
	}
	return true, firstErr
}

// AuthFromConfig reads server's credentials from configDir's config.json
// (or its credential helper) as the docker CLI does before a pull or push
// ("" for Docker Hub). No credentials is not an error: the answer is empty.
func AuthFromConfig(server, configDir string) (registrytypes.AuthConfig, error) {
	cfg, err := config.Load(configDir)
	if err != nil {
		return registrytypes.AuthConfig{}, errdefs.System(err)
	}
	key := server
	if key == "" || key == registry.IndexName || key == registry.IndexHostname || key == registry.DefaultRegistryHost {
		key = registry.IndexServer
	}
	a, err := cfg.GetAuthConfig(key)
	if err != nil {
		return registrytypes.AuthConfig{}, errdefs.System(err)
	}
	if a.ServerAddress == "" {
		a.ServerAddress = key
	}
	return registrytypes.AuthConfig(a), nil
}

// RegistryOf is the config key of ref's registry (the docker CLI's lookup:
// Docker Hub's is its v1 index URL).
func RegistryOf(ref string) (string, error) {
	named, err := ParseRef(ref)
	if err != nil {
		return "", err
	}
	domain := reference.Domain(named)
	if domain == registry.IndexName || domain == registry.DefaultRegistryHost {
		return registry.IndexServer, nil
	}
	return domain, nil
}

// withLease runs fn under a fresh lease, deleted afterwards with a live
// context (synchronously, so the collector runs before the call returns).
func (c *Client) withLease(ctx context.Context, fn func(ctx context.Context) error) error {
	ls := c.c8d.LeasesService()
	l, err := ls.Create(ctx, leases.WithRandomID(), leases.WithExpiration(24*time.Hour))
	if err != nil {
		return err
	}
	err = fn(leases.WithLease(ctx, l.ID))
	live, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.timeout)
	defer cancel()
	if derr := ls.Delete(live, l, leases.SynchronousDelete); derr != nil && err == nil && !cerrdefs.IsNotFound(derr) {
		err = derr
	}
	if err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// unbounded runs op until ctx ends or the client closes, without the
// client's per-call timeout (a pull takes as long as its layers take; a
// registry that does not answer is bounded by the hosts' header timeout).
func unbounded[T any](c *Client, ctx context.Context, op func(ctx context.Context) (T, error)) (T, error) {
	var zero T
	if c.closed.Load() {
		return zero, ErrClosed
	}
	op2, cancel := context.WithCancel(c.ctx)
	defer cancel()
	stop := context.AfterFunc(ctx, cancel)
	defer stop()
	return op(op2)
}

// classifyRegistryError gives an errdefs class to the registry errors Moby
// leaves unclassified: an HTTP 401 (a wrong password against a registry
// with basic auth; no credentials where some are needed) is Unauthorized,
// 403 Forbidden, 404 NotFound, 5xx Unavailable.
func classifyRegistryError(err error) error {
	if err == nil {
		return nil
	}
	var status remoteerrors.ErrUnexpectedStatus
	if errors.As(err, &status) {
		switch {
		case status.StatusCode == http.StatusUnauthorized:
			return errdefs.Unauthorized(err)
		case status.StatusCode == http.StatusForbidden:
			return errdefs.Forbidden(err)
		case status.StatusCode == http.StatusNotFound:
			return errdefs.NotFound(err)
		case status.StatusCode >= 500:
			return errdefs.Unavailable(err)
		}
	}
	// Moby's loginV2 reports a refused login only as text.
	if strings.Contains(err.Error(), "failed with status: 401 ") {
		return errdefs.Unauthorized(err)
	}
	var netErr net.Error
	if errors.As(err, &netErr) && !errdefs.IsUnavailable(err) {
		return errdefs.Unavailable(err) // refused, unreachable, no such host, timed out
	}
	if errors.Is(err, docker.ErrInvalidAuthorization) && !errdefs.IsNotFound(err) {
		return errdefs.Unauthorized(err)
	}
	if cerrdefs.IsNotFound(err) && !errdefs.IsNotFound(err) {
		return errdefs.NotFound(err) // an unknown repository, tag or platform
	}
	return err
}

// progressWriter reads Moby's JSON progress stream (one message per line)
// and hands each message to fn; an error message in the stream is kept.
type progressWriter struct {
	fn  ProgressFunc
	buf bytes.Buffer
	err error
}

func newProgressWriter(fn ProgressFunc) *progressWriter { return &progressWriter{fn: fn} }

func (w *progressWriter) Write(p []byte) (int, error) {
	w.buf.Write(p)
	for {
		line, err := w.buf.ReadBytes('\n')
		if err != nil { // incomplete: keep it for the next write
			rest := append([]byte(nil), line...)
			w.buf.Reset()
			w.buf.Write(rest)
			return len(p), nil
		}
		w.line(line)
	}
}

func (w *progressWriter) line(line []byte) {
	line = bytes.TrimSpace(line)
	if len(line) == 0 {
		return
	}
	var msg jsonmessage.JSONMessage
	if json.Unmarshal(line, &msg) != nil {
		return
	}
	if msg.Error != nil {
		if w.err == nil {
			w.err = errors.New(msg.Error.Message)
		}
		return
	}
	if w.fn == nil {
		return
	}
	p := Progress{ID: msg.ID, Action: strings.TrimSpace(msg.Status)}
	if msg.Progress != nil {
		p.Current, p.Total = msg.Progress.Current, msg.Progress.Total
	}
	w.fn(p)
}

// Close hands on a last unterminated line.
func (w *progressWriter) Close() {
	if w.buf.Len() > 0 {
		w.line(w.buf.Bytes())
		w.buf.Reset()
	}
}
