"""`deepkoala serve` under load, on 127.0.0.1: latency, throughput, 503s, peak memory.

    python benchmarks/serve.py [--clients 50] [--requests 200] [--preset NAME]

Starts `deepkoala serve` (default settings: its queue, concurrency and the
bundled guided preset) on a free port of 127.0.0.1, then `--clients` threads
send `--requests` POST /api/colorize in all (bounded: no more, and at most
`--max-seconds`), photos of 0.3 to 12 MP (JPEG, gray, cut from the example
photos). A 503 is waited out (its Retry-After) and counts as a request. Every
200 must be a valid image of the photo's size; any other status is an error.
Prints one JSON object: the counts by status, p50/p95 latency of the 200s,
photos per second, the server's peak memory (VmHWM), and the same photos
colorized by `Colorizer.colorize` in one process (photos per second, and
the server's share of it: the target is at least 85%).
"""

import argparse
import collections
import io
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import numpy as np
from PIL import Image

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "examples", "photos")
MEGAPIXELS = (0.3, 1.0, 3.0, 6.0, 12.0)


def _photos():
    """One JPEG per size in MEGAPIXELS, each from another example photo (4:3)."""
    names = sorted(name for name in os.listdir(EXAMPLES) if name.endswith(".jpg"))
    photos = []
    for number, megapixels in enumerate(MEGAPIXELS):
        width = int(round((megapixels * 1e6 * 4 / 3) ** 0.5))
        height = int(round(width * 3 / 4))
        source = Image.open(os.path.join(EXAMPLES, names[number % len(names)])).convert("L")
        buffer = io.BytesIO()
        source.resize((width, height), Image.Resampling.BICUBIC).save(buffer, "JPEG", quality=90)
        photos.append((buffer.getvalue(), (width, height)))
    return photos


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _post(url, data):
    boundary = "deepkoala-benchmark"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="p.jpg"\r\n'
            "Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    request = urllib.request.Request(
        url, data=body, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=300) as answer:
            return answer.status, answer.read(), {}
    except urllib.error.HTTPError as error:
        return error.code, error.read(), dict(error.headers)


def _peak_memory_mb(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--max-seconds", type=float, default=900)
    parser.add_argument("--preset", help="default: the server's default")
    args = parser.parse_args(argv)
    photos = _photos()
    port = _free_port()
    command = [sys.executable, "-m", "deepkoala.cli", "serve", "--port", str(port)]
    if args.preset:
        command += ["--preset", args.preset]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 180
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/health", timeout=2) as answer:
                    health = json.loads(answer.read())
                    break
            except OSError:
                if time.time() > deadline or server.poll() is not None:
                    raise SystemExit("the server did not start") from None
                time.sleep(0.5)
        sent = iter(range(args.requests))
        lock = threading.Lock()
        statuses, latencies, answers, errors = collections.Counter(), [], [], []
        stop_at = time.time() + args.max_seconds

        def client():
            while time.time() < stop_at:
                with lock:
                    number = next(sent, None)
                if number is None:
                    return
                data, size = photos[number % len(photos)]
                started = time.perf_counter()
                status, body, headers = _post(f"{base}/api/colorize", data)
                seconds = time.perf_counter() - started
                with lock:
                    statuses[status] += 1
                if status == 200:
                    with lock:  # checked after the run, so that checking takes no server time
                        latencies.append(seconds)
                        answers.append((body, size))
                elif status == 503:
                    time.sleep(float(headers.get("Retry-After", 1)))
                else:
                    with lock:
                        errors.append(f"{status}: {body[:200]!r}")

        started = time.perf_counter()
        threads = [threading.Thread(target=client) for _ in range(args.clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - started
        peak_mb = _peak_memory_mb(server.pid)
    finally:
        server.terminate()
        server.wait(60)
    done_sizes = []
    for body, size in answers:
        try:
            image = Image.open(io.BytesIO(body))
            image.load()
        except OSError as error:
            errors.append(f"an answer is not an image: {error}")
            continue
        if image.size != size:
            errors.append(f"size {image.size}, sent {size}")
        done_sizes.append(size)

    # The same photos, colorized in one process (decoded and encoded as the server does).
    from deepkoala import Colorizer

    colorizer = Colorizer.from_preset(args.preset or health["models"][0], verbose=False)
    by_size = {size: data for data, size in photos}
    colorizer.colorize(Image.open(io.BytesIO(photos[0][0])))  # traced, as the server was
    local_started = time.perf_counter()
    for size in done_sizes:
        result = colorizer.colorize(Image.open(io.BytesIO(by_size[size])))
        result.convert("RGB").save(io.BytesIO(), "PNG", compress_level=1)
    local_seconds = time.perf_counter() - local_started
    served_rate = len(done_sizes) / wall
    local_rate = len(done_sizes) / local_seconds if done_sizes else float("nan")
    print(
        json.dumps(
            {
                "clients": args.clients,
                "requests": sum(statuses.values()),
                "statuses": dict(statuses),
                "errors": errors[:5],
                "photos_megapixels": list(MEGAPIXELS),
                "p50_seconds": round(float(np.percentile(latencies, 50)), 3) if latencies else None,
                "p95_seconds": round(float(np.percentile(latencies, 95)), 3) if latencies else None,
                "served_photos_per_second": round(served_rate, 3),
                "one_process_photos_per_second": round(local_rate, 3),
                "served_share_of_one_process": round(served_rate / local_rate, 3),
                "server_peak_memory_mb": round(peak_mb) if peak_mb else None,
                "server": health,
                "wall_seconds": round(wall, 1),
                "cpus": os.cpu_count(),
            }
        )
    )


if __name__ == "__main__":
    main()
