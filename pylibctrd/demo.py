"""`make demo`: one container through Moby's libcontainerd on the embedded containerd.

Starts containerd the way dockerd does (Moby's supervisor), builds a
one-layer busybox image archive (`docker save` format), imports it into
containerd's image store and prepares the container's rootfs from it as
dockerd does, runs a container and an exec in it, prints their output and
every event that libcontainerd delivered, and cleans up. Where Debian's
docker-registry is installed (`make` installs it), the image also makes a
round trip through a registry started on 127.0.0.1 for the demo: pushed,
removed, and pulled back with Moby's progress; without one, the demo runs
from the archive alone.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
import time
import uuid

import pylibctrd
from pylibctrd import EventInfo, EventType, Progress, imagebuild, stdio


class PrintingRecorder(pylibctrd.Recorder):
    def process_event(self, container_id: str, event: EventType, info: EventInfo) -> None:
        extra = f" exit_code={info.exit_code}" if event is EventType.EXIT else ""
        print(f"  event {event.value:<12} container={container_id} process={info.process_id or '-'}"
              f" pid={info.pid or '-'}{extra}", flush=True)
        super().process_event(container_id, event, info)


def show_pull(client: pylibctrd.Client, image: pylibctrd.Image, tmp: str) -> pylibctrd.Image:
    """`docker push` of the image into a registry on 127.0.0.1 and `docker
    pull` of it back, when docker-registry is installed; else the image."""
    if shutil.which("docker-registry") is None:
        print("(docker-registry is not installed: no pull shown; `make system` installs it)")
        return image
    from pylibctrd.testing import Registry

    def show(p: Progress) -> None:
        if p.action != "Downloading":  # the byte counts: docker redraws these in place
            print(f"  pull: {p.id + ': ' if p.id else ''}{p.action}", flush=True)
    with Registry(os.path.join(tmp, "registry")) as registry:
        ref = f"{registry.address}/demo/busybox:1"
        client.tag(image.name, ref)
        digest = client.push(ref)  # `docker push`
        print(f"pushed {ref} ({digest[:19]}...) to a docker-registry on 127.0.0.1")
        client.remove_image(ref)
        client.remove_image(image.name)
        start = time.monotonic()
        pulled = client.pull(ref, progress=show)  # `docker pull`
        print(f"pulled {pulled.name} in {time.monotonic() - start:.2f}s")
    return pulled


def main() -> int:
    logging.basicConfig(level=logging.WARNING, format="  [log %(levelname)s] %(message)s")
    events = PrintingRecorder()
    print("starting the embedded containerd (Moby's libcontainerd/supervisor)...")
    with pylibctrd.Client.connect(backend=events) as client:
        version = client.version()
        assert client.daemon is not None
        print(f"containerd {version.version} at {client.address}")
        id = f"demo-{uuid.uuid4().hex[:8]}"
        tag = f"pylibctrd-demo/busybox:{id}"
        with tempfile.TemporaryDirectory() as tmp:
            archive = imagebuild.busybox_image(os.path.join(tmp, "busybox.tar"), name=tag).path
            start = time.monotonic()
            [image] = client.import_image(archive)  # `docker load`
            print(f"imported {image.name} {image.digest[:19]}... ({image.size} bytes)"
                  f" in {time.monotonic() - start:.2f}s")
            image = show_pull(client, image, tmp)
        rootfs = client.prepare_rootfs(id, image.name)  # snapshot on Moby's init layer, mounted
        print(f"rootfs {rootfs}")
        spec = pylibctrd.container_spec(
            rootfs, ["sh", "-c", "echo hello from busybox; echo pid=$$ in its own pid namespace; cat"],
            image=image, cgroups_path=f"/pylibctrd-demo/{id}")
        ctr = client.new_container(id, spec)
        print(f"container {id}: bundle {os.path.join(client.state_dir, id)}")
        try:
            out = stdio.Capture()
            task = ctr.new_task(with_stdin=True, attach_stdio=out)
            task.start()
            print(f"task started, pid {task.pid}, status {task.status().value}")

            exec_out = stdio.Capture()
            proc = task.exec("demo-exec", pylibctrd.process_spec(spec, ["sh", "-c", "ls /bin | wc -l; exit 3"]),
                             attach_stdio=exec_out)
            events.wait_for(id, EventType.EXIT, process_id="demo-exec")
            exec_out.wait(10)
            print(f"exec output: {exec_out.stdout.decode().strip()} busybox applets;"
                  f" exit status {proc.delete().exit_code}")

            assert out.stdin is not None
            out.stdin.write(b"this line went through stdin\n")
            out.stdin.close()  # cat sees EOF, as with `docker run -i`
            exit_info = events.wait_for(id, EventType.EXIT, process_id=id)
            out.wait(10)
            print("container output:")
            sys.stdout.write("".join(f"  | {line}\n" for line in out.stdout.decode().splitlines()))
            status = task.delete()
            print(f"task exited with {exit_info.exit_code} at {status.exited_at:%H:%M:%S.%f} UTC")
        except BaseException:
            try:
                ctr.task().force_delete()  # kills what is still running
            except pylibctrd.errors.NotFound:
                pass
            raise
        finally:
            ctr.delete()
            client.release_rootfs(id)
            client.remove_image(image.name)
        print(f"{len(events.events)} events delivered by libcontainerd;"
              f" container deleted, bundle removed: {not os.path.exists(os.path.join(client.state_dir, id))},"
              f" rootfs released: {not os.path.exists(rootfs)}, image removed")
    # The same from a shell, with the `pylibctrd` command (see docs/cli.md),
    # from an archive kept where the embedded containerd keeps its data.
    root = os.environ.get("PYLIBCTRD_ROOT", pylibctrd.daemon.DEFAULT_ROOT)
    os.makedirs(root, exist_ok=True)
    archive = imagebuild.busybox_image(os.path.join(root, "demo-busybox.tar")).path
    print("\nthe same with the pylibctrd command:\n"
          "  pylibctrd daemon &                  # the embedded containerd, kept running\n"
          f"  pylibctrd import {archive}   # Loaded image: busybox:latest\n"
          "  echo 'this line went through stdin' | pylibctrd run -i --rm --name demo busybox \\\n"
          "      sh -c 'echo hello from busybox; cat'\n"
          "  pylibctrd run -d --name demo busybox sleep 60\n"
          "  pylibctrd exec demo sh -c 'ls /bin | wc -l; exit 3'; echo $?\n"
          "  pylibctrd events --filter container=demo   # in another shell, until ^C\n"
          "  pylibctrd ps; pylibctrd rm -f demo      # rm releases its rootfs snapshot\n"
          "  pylibctrd rmi busybox")
    return 0


if __name__ == "__main__":
    sys.exit(main())
