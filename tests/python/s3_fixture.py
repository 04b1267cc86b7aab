#!/usr/bin/env python3
"""Set-up and inspection of a loopback S3 server (moto_server) for Orchard's tests.

    s3_fixture.py ENDPOINT create-bucket BUCKET REGION
    s3_fixture.py ENDPOINT upload BUCKET PREFIX DIR        # every file under DIR, keys PREFIX/relative
    s3_fixture.py ENDPOINT fill BUCKET PREFIX N            # N small text objects PREFIX/000000.txt …
    s3_fixture.py ENDPOINT list BUCKET PREFIX              # one key per line
    s3_fixture.py ENDPOINT download BUCKET PREFIX DIR      # every object under PREFIX into DIR

Credentials are whatever the environment holds (the tests set dummy ones;
moto accepts any unless started with INITIAL_NO_AUTH_ACTION_COUNT).
"""
import os
import sys

import boto3
from botocore.config import Config

from fixture_upload import fill, upload_tree


def client(endpoint, region="us-east-1"):
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=region,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 5}),
    )


def main():
    endpoint, cmd, *args = sys.argv[1:]
    if cmd == "create-bucket":
        bucket, region = args
        s3 = client(endpoint, region)
        if region == "us-east-1":
            s3.create_bucket(Bucket=bucket)
        else:
            s3.create_bucket(
                Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region}
            )
    elif cmd == "upload":
        bucket, prefix, root = args
        s3 = client(endpoint)
        print(upload_tree(root, prefix, lambda key, body: s3.put_object(Bucket=bucket, Key=key, Body=body)))
    elif cmd == "fill":
        bucket, prefix, n = args
        s3 = client(endpoint)
        fill(prefix, n, lambda key, body: s3.put_object(Bucket=bucket, Key=key, Body=body))
    elif cmd == "list":
        bucket, prefix = args
        s3 = client(endpoint)
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                print(obj["Key"])
    elif cmd == "download":
        bucket, prefix, root = args
        s3 = client(endpoint)
        prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                dest = os.path.join(root, obj["Key"][len(prefix):])
                os.makedirs(os.path.dirname(dest), exist_ok=True)
                s3.download_file(bucket, obj["Key"], dest)
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
