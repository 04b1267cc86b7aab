#!/usr/bin/env python3
"""Set-up and inspection of a loopback Azure Blob server (Azurite) for Orchard's tests.

    azure_fixture.py create-container CONTAINER
    azure_fixture.py upload CONTAINER PREFIX DIR        # every file under DIR, names PREFIX/relative
    azure_fixture.py fill CONTAINER PREFIX N            # N small text blobs PREFIX/000000.txt …
    azure_fixture.py list CONTAINER PREFIX              # one name per line
    azure_fixture.py download CONTAINER PREFIX DIR      # every blob under PREFIX into DIR

The account comes from AZURE_FIXTURE_CONNECTION_STRING (the tests build it
from Azurite's port and the account they started it with).
"""
import os
import sys

from azure.storage.blob import BlobServiceClient

from fixture_upload import fill, upload_tree


def service():
    return BlobServiceClient.from_connection_string(
        os.environ["AZURE_FIXTURE_CONNECTION_STRING"]
    )


def main():
    cmd, *args = sys.argv[1:]
    if cmd == "create-container":
        (container,) = args
        service().create_container(container)
    elif cmd == "upload":
        container, prefix, root = args
        client = service().get_container_client(container)
        print(upload_tree(root, prefix, lambda key, body: client.upload_blob(key, body, overwrite=True)))
    elif cmd == "fill":
        container, prefix, n = args
        client = service().get_container_client(container)
        fill(prefix, n, lambda key, body: client.upload_blob(key, body, overwrite=True))
    elif cmd == "list":
        container, prefix = args
        for blob in service().get_container_client(container).list_blobs(
            name_starts_with=prefix
        ):
            print(blob.name)
    elif cmd == "download":
        container, prefix, root = args
        client = service().get_container_client(container)
        prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        for blob in client.list_blobs(name_starts_with=prefix):
            dest = os.path.join(root, blob.name[len(prefix):])
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            with open(dest, "wb") as f:
                f.write(client.download_blob(blob.name).readall())
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
