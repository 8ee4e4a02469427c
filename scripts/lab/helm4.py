"""A tiny CLI over the Helm 4 SDK (helm-python-sdk, Helm 4.2.3), the lab's
reference for what Helm 4 writes and reads. No Helm 4 CLI can be installed
here, so the tests drive the SDK through this.

Run as: $LAB_PYTHON $LAB_HELM4 SUBCOMMAND ...

  package DIR DEST                       Helm 4's packager; prints the .tgz path
  pull REF VERSION DEST [--plain-http] [--insecure] [--creds FILE]
                                         prints the pulled .tgz path
  show-chart TGZ                         Chart.yaml as Helm 4 reads it (YAML)
  push TGZ oci://HOST/NS [--plain-http] [--insecure] [--creds FILE]
                                         prints the SDK's reply as JSON
  login HOST USERNAME [--plain-http] [--insecure] [--creds FILE]
                                         password on stdin (never an argument)
  tags oci://HOST/NS/NAME [--plain-http] [--creds FILE]
                                         one tag a line, newest first
  resolve oci://HOST/NS/NAME:TAG [--plain-http] [--creds FILE]
                                         manifest descriptor as JSON

--creds FILE is the registry config (Docker config.json format) to read
logins from; without it the SDK uses Helm's default location. On failure:
the error on stderr, exit status 1.
"""

import argparse
import json
import os
import sys

import helm_python
from helm_python import registry


def client(args):
    return registry.RegistryClient(
        plain_http=args.plain_http, credentials_file=args.creds
    )


def cmd_package(args):
    os.makedirs(args.dest, exist_ok=True)
    print(os.path.abspath(helm_python.package(args.dir, destination=args.dest)))


def cmd_pull(args):
    os.makedirs(args.dest, exist_ok=True)
    with client(args) as c:
        c.pull(
            args.ref,
            version=args.version,
            destination=args.dest,
            plain_http=args.plain_http,
            insecure_skip_tls_verify=args.insecure,
        )
    # The SDK replies with free text; the archive name is Helm's own rule.
    name = args.ref.rstrip("/").rsplit("/", 1)[-1]
    path = os.path.join(args.dest, f"{name}-{args.version}.tgz")
    if not os.path.isfile(path):
        raise SystemExit(f"pull reported success but {path} is missing")
    print(path)


def cmd_show_chart(args):
    # RegistryClient.show(..., version=) is broken in 0.2.2: show the archive.
    sys.stdout.write(registry.show(args.tgz, output_format="chart"))


def cmd_push(args):
    with client(args) as c:
        reply = c.push(
            args.tgz,
            args.remote,
            plain_http=args.plain_http,
            insecure_skip_tls_verify=args.insecure,
        )
    print(json.dumps(reply))


def cmd_login(args):
    password = sys.stdin.read().rstrip("\r\n")
    with client(args) as c:
        c.login(
            args.host,
            args.username,
            password,
            insecure=args.insecure,
            plain_http=args.plain_http,
        )
    print("Login Succeeded")


def cmd_tags(args):
    with client(args) as c:
        for tag in c.tags(args.ref):
            print(tag)


def cmd_resolve(args):
    with client(args) as c:
        print(json.dumps(c.resolve(args.ref)))


# Each subcommand: its handler, its positional arguments, and whether it
# talks to a registry (then it takes --plain-http, --insecure and --creds).
COMMANDS = {
    "package": (cmd_package, ["dir", "dest"], False),
    "pull": (cmd_pull, ["ref", "version", "dest"], True),
    "show-chart": (cmd_show_chart, ["tgz"], False),
    "push": (cmd_push, ["tgz", "remote"], True),
    "login": (cmd_login, ["host", "username"], True),
    "tags": (cmd_tags, ["ref"], True),
    "resolve": (cmd_resolve, ["ref"], True),
}


def parser():
    p = argparse.ArgumentParser(prog="helm4.py", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    for name, (func, positionals, remote) in COMMANDS.items():
        sp = sub.add_parser(name)
        if remote:
            sp.add_argument("--plain-http", action="store_true")
            sp.add_argument("--insecure", action="store_true")
            sp.add_argument("--creds", metavar="FILE")
        for arg in positionals:
            sp.add_argument(arg)
        sp.set_defaults(func=func)
    return p


def main():
    args = parser().parse_args()
    try:
        args.func(args)
    except helm_python.HelmError as e:
        print(f"Error: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
    except OSError as e:
        print(f"Error: {e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
