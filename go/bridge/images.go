package bridge

import (
	"pylibctrd/core"
)

// Images answers [{"name", "digest", "size", "config"}].
func Images(imgs []core.Image, err error) (Result, error) {
	if err != nil {
		return Result{}, err
	}
	out := make([]map[string]any, 0, len(imgs))
	for _, img := range imgs {
		out = append(out, imageRecord(img))
	}
	return JSON(out)
}

// OneImage answers {"name", "digest", "size", "config"}.
func OneImage(img core.Image, err error) (Result, error) {
	if err != nil {
		return Result{}, err
	}
	return JSON(imageRecord(img))
}

func imageRecord(img core.Image) map[string]any {
	return map[string]any{"name": img.Name, "digest": img.Digest.String(), "size": img.Size, "config": img.Config}
}
