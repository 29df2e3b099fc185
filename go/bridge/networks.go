package bridge

import (
	"encoding/json"

	"pylibctrd/core"
)

// A network record is {"name", "subnet", "gateway", "internal", "labels",
// "bridge"}; an endpoint {"network", "interface", "ip", "gateway", "mac",
// "ports": [{"host_ip", "host_port", "container_port", "proto"}], "aliases"}.

// OneNetwork answers a network record.
func OneNetwork(nw *core.Network, err error) (Result, error) {
	if err != nil {
		return Result{}, err
	}
	return JSON(nw)
}

// NetworkList answers [network record].
func NetworkList(nws []core.Network, err error) (Result, error) {
	if err != nil {
		return Result{}, err
	}
	return JSON(nws)
}

// OneEndpoint answers an endpoint.
func OneEndpoint(e *core.Endpoint, err error) (Result, error) {
	if err != nil {
		return Result{}, err
	}
	return JSON(e)
}

// EndpointList answers [endpoint].
func EndpointList(es []core.Endpoint, err error) (Result, error) {
	if err != nil {
		return Result{}, err
	}
	if es == nil {
		es = []core.Endpoint{}
	}
	return JSON(es)
}

// Strings answers a JSON list of strings.
func Strings(s []string, err error) (Result, error) {
	if err != nil {
		return Result{}, err
	}
	if s == nil {
		s = []string{}
	}
	return JSON(s)
}

// DecodeStrings reads a JSON list of strings (empty: none).
func DecodeStrings(what string, data []byte) ([]string, error) {
	if len(data) == 0 {
		return nil, nil
	}
	var out []string
	if err := json.Unmarshal(data, &out); err != nil {
		return nil, Errorf(CodeInvalidParameter, "%s must be a list of strings: %v", what, err)
	}
	return out, nil
}
