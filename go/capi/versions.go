package main

/*
#include "trampoline.h"
*/
import "C"

import (
	"context"

	"pylibctrd/bridge"
)

//export pylibctrd_versions
func pylibctrd_versions(out *C.pylibctrd_result) C.int {
	return run(out, func(context.Context) (result, error) { return bridge.Versions() })
}
