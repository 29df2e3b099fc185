package main

// Registries on the reference side: dockerd's API handlers for
// POST /images/create (pull), POST /images/{name}/push and
// POST /images/{name}/tag, calling Moby's containerd ImageService built with
// a registry service and dockerd's RegistryHosts (harness.RegistryHosts), and
// the progress stream read back as the docker CLI reads it
// (jsonmessage). Nothing here comes from pylibctrd's go/core.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"

	"github.com/containerd/containerd/platforms"
	"github.com/distribution/reference"
	"github.com/docker/docker/api/types/backend"
	registrytypes "github.com/docker/docker/api/types/registry"
	"github.com/docker/docker/errdefs"
	"github.com/docker/docker/pkg/jsonmessage"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// StepAuth is a step's credentials (docker login's user and password).
type StepAuth struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// registryRef replaces {registry}, {auth_registry} and {run} in a step's
// reference by the test's registries' addresses and the runner's prefix.
func (r *runner) registryRef(ref string) string {
	return strings.NewReplacer("{registry}", r.registry, "{auth_registry}", r.authRegistry,
		"{run}", r.prefix).Replace(ref)
}

func authConfig(a *StepAuth) *registrytypes.AuthConfig {
	if a == nil {
		return nil
	}
	// The docker CLI sends the registry's host as serveraddress; Moby's
	// authorizer takes the reference's domain when it is empty, as here.
	return &registrytypes.AuthConfig{Username: a.Username, Password: a.Password}
}

// progress reads a Moby JSON progress stream as the docker CLI's
// jsonmessage does: each message's id and status; an error message is the
// operation's error (dockerd writes it into the stream once output began).
func progress(stream []byte) ([]map[string]string, error) {
	out := []map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(stream))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var msg jsonmessage.JSONMessage
		if json.Unmarshal(sc.Bytes(), &msg) != nil {
			continue
		}
		if msg.Error != nil {
			return out, errors.New(msg.Error.Message)
		}
		out = append(out, map[string]string{"id": msg.ID, "action": strings.TrimSpace(msg.Status)})
	}
	return out, sc.Err()
}

// pull is postImagesCreate with fromImage (docker pull): the reference and
// platform parsed as the handler does, PullImage, then the pulled image
// described as get_image does.
func (r *runner) pull(ctx context.Context, s Step) (any, error) {
	var platform *ocispec.Platform
	if s.Platform != "" {
		p, err := platforms.Parse(s.Platform)
		if err != nil {
			return nil, errdefs.InvalidParameter(err)
		}
		platform = &p
	}
	ref, err := reference.ParseNormalizedNamed(r.registryRef(s.Ref))
	if err != nil {
		return nil, errdefs.InvalidParameter(err)
	}
	ref = reference.TagNameOnly(ref) // the docker CLI's pull: a name alone means :latest
	var stream bytes.Buffer
	err = r.images().svc.PullImage(ctx, ref, platform, nil, authConfig(s.Auth), &stream)
	actions, perr := progress(stream.Bytes())
	if err == nil {
		err = perr
	}
	if err != nil {
		return nil, err
	}
	img, err := r.images().describe(ctx, reference.FamiliarString(ref))
	if err != nil {
		return nil, err
	}
	return map[string]any{"image": img, "progress": actions}, nil
}

// push is postImagesPush (docker push NAME:TAG): PushImage, then the digest
// of the image pushed (its manifest's).
func (r *runner) push(ctx context.Context, s Step) (any, error) {
	ref, err := reference.ParseNormalizedNamed(r.registryRef(s.Ref))
	if err != nil {
		return nil, errdefs.InvalidParameter(err)
	}
	ref = reference.TagNameOnly(ref)
	var stream bytes.Buffer
	err = r.images().svc.PushImage(ctx, ref, nil, authConfig(s.Auth), &stream)
	actions, perr := progress(stream.Bytes())
	if err == nil {
		err = perr
	}
	if err != nil {
		return nil, err
	}
	img, err := r.images().c8d.ImageService().Get(ctx, ref.String())
	if err != nil {
		return nil, err
	}
	return map[string]any{"digest": img.Target.Digest.String(), "progress": actions}, nil
}

// tag is postImagesTag (docker tag SOURCE TARGET): the target parsed (a
// name alone gets :latest), the source resolved with GetImage, TagImage.
func (r *runner) tag(ctx context.Context, s Step) (any, error) {
	target, err := reference.ParseNormalizedNamed(r.registryRef(s.Target))
	if err != nil {
		return nil, errdefs.InvalidParameter(err)
	}
	if _, digested := target.(reference.Digested); digested {
		return nil, errdefs.InvalidParameter(errors.New("refusing to create a tag with a digest reference"))
	}
	target = reference.TagNameOnly(target)
	img, err := r.images().svc.GetImage(ctx, r.registryRef(s.Source), backend.GetImageOpts{})
	if err != nil {
		return nil, errdefs.NotFound(err)
	}
	return "ok", r.images().svc.TagImage(ctx, img.ID(), target)
}
