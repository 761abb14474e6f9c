"""Prints the deploy manifests with every container's image set to the built image, by digest.

    tools/bazel run //deploy:manifests -- {cloudrun,kubernetes} [--repository REGISTRY/NAME]

The digest is //server:image's, so a manifest always names exactly the image this checkout built
(push that image first: `tools/bazel run //server:image_push -- --repository REGISTRY/NAME`).
"""

import argparse
import sys
from pathlib import Path

import yaml

# In the runfiles (bazel run, tests), beside this file.
HERE = Path(__file__).parent
MANIFESTS = {
    "cloudrun": ["cloudrun/service.yaml"],
    "kubernetes": [f"kubernetes/{name}.yaml" for name in ("deployment", "service", "hpa", "pdb")],
}


def containers(document: dict) -> list[dict]:
    """The containers of a Deployment's or a Knative Service's pod template; none for the rest."""
    template = document.get("spec", {}).get("template", {})
    return template.get("spec", {}).get("containers", [])


def render(target: str, repository: str, digest: str) -> list[dict]:
    """The target's manifests as YAML documents, each container's image `repository@digest`."""
    documents = []
    for name in MANIFESTS[target]:
        documents += [doc for doc in yaml.safe_load_all((HERE / name).read_text()) if doc]
    for document in documents:
        for container in containers(document):
            container["image"] = f"{repository}@{digest}"
    return documents


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "target", choices=sorted(MANIFESTS), help="cloudrun: one Knative Service; kubernetes: four objects"
    )
    parser.add_argument("--repository", default="prediction-server", help="where the image was pushed (no tag)")
    parser.add_argument("--digest-file", type=Path, required=True, help="//server:image.digest (BUILD.bazel sets it)")
    args = parser.parse_args()
    if "@" in args.repository or ":" in args.repository.rsplit("/", 1)[-1]:
        sys.exit(f"manifests: error: --repository {args.repository!r} must be REGISTRY/NAME, without a tag or digest")
    documents = render(args.target, args.repository, args.digest_file.read_text().strip())
    yaml.safe_dump_all(documents, sys.stdout, sort_keys=False)


if __name__ == "__main__":
    main()
