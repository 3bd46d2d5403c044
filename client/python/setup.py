"""Build hook of the brook-client package (the metadata is in pyproject.toml): generates the brook.v1 stubs.

build_py runs protoc with grpc_python_plugin on brook/v1/*.proto into the build directory, so the wheel carries
brook/v1/*_pb2.py and *_pb2_grpc.py (a namespace package beside brookclient.py) and the installed client needs
neither the checkout nor protoc. The protos come from ../../proto in a checkout, or ./proto in an sdist (which
copies them in).
"""

import glob
import os
import shutil
import subprocess

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

HERE = os.path.dirname(os.path.abspath(__file__))


def proto_root():
    for root in (os.path.join(HERE, "..", "..", "proto"), os.path.join(HERE, "proto")):
        if os.path.isdir(os.path.join(root, "brook", "v1")):
            return os.path.normpath(root)
    raise SystemExit("brook-client: no proto/brook/v1 found (build from a Brook checkout or its sdist)")


class BuildWithStubs(build_py):
    def run(self):
        super().run()
        root = proto_root()
        protos = sorted(os.path.relpath(p, root) for p in glob.glob(os.path.join(root, "brook", "v1", "*.proto")))
        plugin = shutil.which("grpc_python_plugin")
        if not plugin or not shutil.which("protoc"):
            raise SystemExit("brook-client: protoc and grpc_python_plugin are needed to build "
                             "(Debian: apt-get install protobuf-compiler protobuf-compiler-grpc)")
        os.makedirs(self.build_lib, exist_ok=True)
        subprocess.run(["protoc", "-I", root, "--python_out=" + self.build_lib,
                        "--grpc_python_out=" + self.build_lib, "--plugin=protoc-gen-grpc_python=" + plugin] + protos,
                       check=True)


class SdistWithProtos(sdist):
    def make_release_tree(self, base_dir, files):
        super().make_release_tree(base_dir, files)
        shutil.copytree(os.path.join(proto_root(), "brook", "v1"), os.path.join(base_dir, "proto", "brook", "v1"))


setup(cmdclass={"build_py": BuildWithStubs, "sdist": SdistWithProtos})
