// Command fakectrd is a stand-in containerd for measuring a client's cost per
// call without containerd's: it serves only what connecting and `version`
// need (health, version, an events stream that never sends), so that the
// client-side CPU of pylibctrd and gobench can be profiled and compared
// without a real daemon (and without its share of the CPU).
//
//	fakectrd -address /tmp/fake.sock
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"

	eventsapi "github.com/containerd/containerd/api/services/events/v1"
	namespacesapi "github.com/containerd/containerd/api/services/namespaces/v1"
	versionapi "github.com/containerd/containerd/api/services/version/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/types/known/emptypb"
)

type version struct {
	versionapi.UnimplementedVersionServer
}

func (version) Version(context.Context, *emptypb.Empty) (*versionapi.VersionResponse, error) {
	return &versionapi.VersionResponse{Version: "1.6.20~fake", Revision: "0123456789abcdef0123456789abcdef01234567"}, nil
}

type events struct {
	eventsapi.UnimplementedEventsServer
}

func (events) Subscribe(_ *eventsapi.SubscribeRequest, s eventsapi.Events_SubscribeServer) error {
	<-s.Context().Done()
	return nil
}

// namespaces answers the default-runtime label lookup containerd.New makes.
type namespaces struct {
	namespacesapi.UnimplementedNamespacesServer
}

func (namespaces) Get(_ context.Context, r *namespacesapi.GetNamespaceRequest) (*namespacesapi.GetNamespaceResponse, error) {
	return &namespacesapi.GetNamespaceResponse{Namespace: &namespacesapi.Namespace{Name: r.Name}}, nil
}

func main() {
	address := flag.String("address", "", "unix socket to serve on")
	flag.Parse()
	os.Remove(*address)
	l, err := net.Listen("unix", *address)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	s := grpc.NewServer()
	versionapi.RegisterVersionServer(s, version{})
	eventsapi.RegisterEventsServer(s, events{})
	namespacesapi.RegisterNamespacesServer(s, namespaces{})
	healthpb.RegisterHealthServer(s, health.NewServer())
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
		<-sig
		s.Stop()
	}()
	fmt.Println("ready")
	if err := s.Serve(l); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	os.Remove(*address)
}
