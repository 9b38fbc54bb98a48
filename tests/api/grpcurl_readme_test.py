#!/usr/bin/python3
"""Every grpcurl command in README.md works as printed, through reflection.

Reads the README's "Operating with grpcurl" section, starts a fresh notifyd
and runs every `grpcurl` command of its ```sh blocks, in order, with a client
that knows no proto file of the API: like grpcurl, it learns every service,
method and message from notifyd's reflection service
(grpc.reflection.v1alpha, whose own messages are the only ones generated
here, from proto/grpc/reflection/v1alpha/reflection.proto) and prints what
grpcurl prints (JSON with lowerCamelCase names, uint64 as strings, zero
values left out unless -emit-defaults; errors as grpcurl shows them).

A command's expected output is the `# ` comment lines right under it in the
README (no blank line between): each must match a line of the output, in
order, `...` matching anything. A flag the emulation does not know fails the
test, and so does a README that stops calling a Notifier RPC, `list`,
`describe` with and without a symbol, or the health check with and without a
service name: the README and this test cannot drift apart. When the real
grpcurl is installed, every command is also run with it and checked the same
way.

Usage: grpcurl_readme_test.py <notifyd binary> <README.md> <proto dir>
"""
import contextlib
import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, json_format
from google.protobuf import message_factory

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "support"))
from notifyd_process import running_notifyd  # noqa: E402
from readme_commands import expect_lines  # noqa: E402
from readme_commands import section_commands, section_lines  # noqa: E402

SECTION = "### Operating with grpcurl"
README_ADDRESS = "127.0.0.1:50051"
REFLECTION = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"

# grpc.StatusCode -> the name grpcurl prints (Go's codes.Code).
GO_CODE_NAMES = {
    grpc.StatusCode.OK: "OK", grpc.StatusCode.CANCELLED: "Canceled",
    grpc.StatusCode.UNKNOWN: "Unknown",
    grpc.StatusCode.INVALID_ARGUMENT: "InvalidArgument",
    grpc.StatusCode.DEADLINE_EXCEEDED: "DeadlineExceeded",
    grpc.StatusCode.NOT_FOUND: "NotFound",
    grpc.StatusCode.ALREADY_EXISTS: "AlreadyExists",
    grpc.StatusCode.PERMISSION_DENIED: "PermissionDenied",
    grpc.StatusCode.RESOURCE_EXHAUSTED: "ResourceExhausted",
    grpc.StatusCode.FAILED_PRECONDITION: "FailedPrecondition",
    grpc.StatusCode.ABORTED: "Aborted",
    grpc.StatusCode.OUT_OF_RANGE: "OutOfRange",
    grpc.StatusCode.UNIMPLEMENTED: "Unimplemented",
    grpc.StatusCode.INTERNAL: "Internal",
    grpc.StatusCode.UNAVAILABLE: "Unavailable",
    grpc.StatusCode.DATA_LOSS: "DataLoss",
    grpc.StatusCode.UNAUTHENTICATED: "Unauthenticated",
}

SCALAR_NAMES = {
    value: name[len("TYPE_"):].lower()
    for name, value in descriptor_pb2.FieldDescriptorProto.Type.items()
}


def readme_commands(readme):
    """The grpcurl commands of the section's ```sh blocks, in order."""
    commands = section_commands(readme, SECTION,
                                lambda line: line.startswith("grpcurl "))
    # Runnable grpcurl lines elsewhere would be untested: there are none.
    start, section = section_lines(readme, SECTION)
    lines = readme.split("\n")
    outside = [
        l for l in lines[:start] if l.startswith("grpcurl ")
    ] + [l for l in lines[start + 1 + len(section):] if l.startswith("grpcurl ")]
    assert not outside, f"grpcurl lines outside {SECTION}: {outside}"
    return commands


class ReflectionClient:
    """Learns descriptors from the server, as grpcurl does."""

    def __init__(self, channel, pb):
        self.pb = pb
        self.call = channel.stream_stream(
            REFLECTION,
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=pb.ServerReflectionResponse.FromString)
        self.files = {}  # name -> FileDescriptorProto
        self.pool = descriptor_pool.DescriptorPool()
        self.added = set()

    def ask(self, **question):
        responses = list(self.call(iter([self.pb.ServerReflectionRequest(
            **question)]), timeout=10))
        assert len(responses) == 1, responses
        return responses[0]

    def services(self):
        response = self.ask(list_services="")
        return sorted(s.name for s in response.list_services_response.service)

    def _add(self, name):
        if name in self.added:
            return
        if name not in self.files:
            self._learn(self.ask(file_by_filename=name))
        proto = self.files[name]
        for dep in proto.dependency:
            self._add(dep)
        self.pool.Add(proto)
        self.added.add(name)

    def _learn(self, response):
        if response.HasField("error_response"):
            return response.error_response
        files = response.file_descriptor_response.file_descriptor_proto
        first = None
        for raw in files:
            proto = descriptor_pb2.FileDescriptorProto.FromString(raw)
            self.files.setdefault(proto.name, proto)
            first = first or proto.name
        self._add(first)
        return None

    def file_of(self, symbol):
        """The FileDescriptorProto defining `symbol`, or an ErrorResponse."""
        response = self.ask(file_containing_symbol=symbol)
        error = self._learn(response)
        if error is not None:
            return error
        raw = response.file_descriptor_response.file_descriptor_proto[0]
        return self.files[descriptor_pb2.FileDescriptorProto.FromString(
            raw).name]


def comments(proto, path, indent):
    """The leading comments of the element at `path`, as // lines."""
    for location in proto.source_code_info.location:
        if list(location.path) == path and location.leading_comments:
            text = location.leading_comments.rstrip("\n")
            return [f"{indent}//{line}".rstrip() for line in text.split("\n")]
    return []


def type_name(field):
    if field.type_name:
        return field.type_name
    return SCALAR_NAMES[field.type]


def describe_lines(client, symbol):
    """What `grpcurl describe <symbol>` prints (services, methods and
    messages, as grpcurl's protoprint lays them out)."""
    proto = client.file_of(symbol)
    if not isinstance(proto, descriptor_pb2.FileDescriptorProto):
        raise LookupError(f"Symbol not found: {symbol}")
    package = proto.package + "."
    local = symbol[len(package):]

    def rpc_line(method, indent):
        stream_in = "stream " if method.client_streaming else ""
        stream_out = "stream " if method.server_streaming else ""
        return (f"{indent}rpc {method.name} ( {stream_in}{method.input_type} )"
                f" returns ( {stream_out}{method.output_type} );")

    for s, service in enumerate(proto.service):
        if local == service.name:
            out = [f"{symbol} is a service:"] + comments(proto, [6, s], "")
            out.append(f"service {service.name} {{")
            for m, method in enumerate(service.method):
                out += comments(proto, [6, s, 2, m], "  ")
                out.append(rpc_line(method, "  "))
            return out + ["}"]
        for m, method in enumerate(service.method):
            if local == f"{service.name}.{method.name}":
                return ([f"{symbol} is a method:"] +
                        comments(proto, [6, s, 2, m], "") +
                        [rpc_line(method, "")])
    for i, message in enumerate(proto.message_type):
        if local == message.name:
            out = [f"{symbol} is a message:"] + comments(proto, [4, i], "")
            out.append(f"message {message.name} {{")
            for f, field in enumerate(message.field):
                out += comments(proto, [4, i, 2, f], "  ")
                label = ("repeated " if field.label ==
                         descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED
                         else "")
                out.append(f"  {label}{type_name(field)} {field.name} = "
                           f"{field.number};")
            return out + ["}"]
    return [f"{symbol} is a {type(proto).__name__}"]


def parse_flags(words):
    """grpcurl's flags as used in the README -> (options, rest)."""
    options = {"plaintext": False, "data": None, "headers": [],
               "emit_defaults": False, "format_error": False,
               "max_time": None}
    i = 1
    while i < len(words) and words[i].startswith("-"):
        flag = words[i].lstrip("-")
        if flag == "plaintext":
            options["plaintext"] = True
        elif flag == "emit-defaults":
            options["emit_defaults"] = True
        elif flag == "format-error":
            options["format_error"] = True
        elif flag == "d":
            i += 1
            options["data"] = words[i]
        elif flag == "H":
            i += 1
            options["headers"].append(words[i])
        elif flag == "max-time":
            i += 1
            options["max_time"] = float(words[i])
        else:
            raise AssertionError(f"flag -{flag} is not emulated: {words}")
        i += 1
    return options, words[i:]


def run_emulated(client, channel, text, port):
    """Runs one README command with the emulation: (exit code, output)."""
    options, rest = parse_flags(shlex.split(text))
    assert options["plaintext"], f"the README's server is plaintext: {text}"
    assert rest and rest[0] == README_ADDRESS, text
    verb, args = rest[1], rest[2:]
    if verb == "list":
        if not args:
            return 0, client.services()
        proto = client.file_of(args[0])
        service = next(s for s in proto.service
                       if f"{proto.package}.{s.name}" == args[0])
        return 0, sorted(f"{args[0]}.{m.name}" for m in service.method)
    if verb == "describe":
        symbols = args or client.services()
        out = []
        for symbol in symbols:
            try:
                out += describe_lines(client, symbol)
            except LookupError as e:
                return 1, [f"Failed to resolve symbol {symbol!r}: {e}"]
        return 0, out
    assert not args, f"one method per command: {text}"
    service_name, method_name = re.split(r"[/.](?=[^./]+$)", verb)
    proto = client.file_of(service_name)
    assert isinstance(proto, descriptor_pb2.FileDescriptorProto), (verb, proto)
    service = client.pool.FindServiceByName(service_name)
    method = service.methods_by_name[method_name]
    factory = message_factory.MessageFactory(client.pool)
    request_class = factory.GetPrototype(method.input_type)
    response_class = factory.GetPrototype(method.output_type)
    # Like grpcurl's -d: one JSON object, or (client streaming) several,
    # one after another.
    requests = []
    data = (options["data"] or "").strip()
    decoder = json.JSONDecoder()
    while data:
        value, end = decoder.raw_decode(data)
        requests.append(json_format.ParseDict(value, request_class()))
        data = data[end:].strip()
    request = requests[0] if requests else request_class()
    assert method.client_streaming or len(requests) <= 1, text
    metadata = [tuple(h.split(": ", 1)) for h in options["headers"]]
    path = f"/{service_name}/{method_name}"
    if method.client_streaming:
        stub = channel.stream_stream(
            path, request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=response_class.FromString)
        request = iter(requests)
    elif method.server_streaming:
        stub = channel.unary_stream(
            path, request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=response_class.FromString)
    else:
        stub = channel.unary_unary(
            path, request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=response_class.FromString)
    try:
        answer = stub(request, timeout=options["max_time"],
                      metadata=metadata or None)
        responses = (list(answer) if method.server_streaming
                     else [answer])
    except grpc.RpcError as e:
        if options["format_error"]:
            return 1, json.dumps(
                {"code": e.code().value[0], "message": e.details()},
                indent=2).split("\n")
        return 1, ["ERROR:", f"  Code: {GO_CODE_NAMES[e.code()]}",
                   f"  Message: {e.details()}"]
    out = []
    for response in responses:
        out += json_format.MessageToJson(
            response, including_default_value_fields=options["emit_defaults"],
            indent=2).split("\n")
    return 0, out


def run_real(text, port):
    words = [w if w != README_ADDRESS else f"127.0.0.1:{port}"
             for w in shlex.split(text)]
    done = subprocess.run(words, capture_output=True, text=True, timeout=30)
    return done.returncode, (done.stdout + done.stderr).rstrip("\n").split("\n")


def check_output(command, code, lines):
    """Every expected line matches an output line, in order."""
    expect_error = any(e.startswith("ERROR:") or e.startswith('  "code"')
                       for e in command.expected)
    assert (code != 0) == expect_error, (command, code, lines)
    expect_lines(command, lines)


def notifier_comment(proto_dir):
    """The comment above `service Notifier` in the proto, as // lines."""
    source = open(os.path.join(proto_dir, "notify/v1/notify.proto")).read()
    block = re.search(r"((?://[^\n]*\n)+)service Notifier \{", source)
    return [line.rstrip() for line in block.group(1).strip("\n").split("\n")]


def check_coverage(client, channel, commands, port):
    """The README shows every operator's call (see the module comment)."""
    words = [shlex.split(c.text) for c in commands]
    verbs = [parse_flags(w)[1][1:] for w in words]
    assert ["list"] in verbs, "README shows no `grpcurl list`"
    assert ["describe"] in verbs, "README shows no bare `grpcurl describe`"
    assert ["describe", "notify.v1.Notifier"] in verbs, verbs
    proto = client.file_of("notify.v1.Notifier")
    service = next(s for s in proto.service if s.name == "Notifier")
    called = {v[0] for v in verbs}
    for method in service.method:
        assert f"notify.v1.Notifier/{method.name}" in called, (
            f"README's grpcurl section does not call {method.name}")
    health = [parse_flags(w)[0]["data"] for w in words
              if parse_flags(w)[1][1:] == ["grpc.health.v1.Health/Check"]]
    assert None in health, "README shows no Health/Check without a service"
    assert any(d and "service" in d for d in health), (
        "README shows no Health/Check with a service name")
    # A bare describe describes every service listed, these included.
    _, described = run_emulated(
        client, channel, f"grpcurl -plaintext {README_ADDRESS} describe", port)
    for name in ["notify.v1.Notifier", "grpc.health.v1.Health",
                 "grpc.reflection.v1alpha.ServerReflection"]:
        assert f"{name} is a service:" in described, (name, described)


@contextlib.contextmanager
def fresh_server(notifyd, tmp):
    """A notifyd on ports of its own with an empty store: its port."""
    os.makedirs(tmp)
    key_file = os.path.join(tmp, "token.key")
    with open(key_file, "w") as f:
        f.write("a-test-secret-of-at-least-32-bytes-long")
    with running_notifyd(notifyd, tmp, f"--token_key_file={key_file}") as ports:
        yield ports["grpc_port"]


def main():
    notifyd, readme_path, proto_dir = sys.argv[1], sys.argv[2], sys.argv[3]
    commands = readme_commands(open(readme_path).read())
    with tempfile.TemporaryDirectory() as tmp:
        # The reflection protocol's own messages: the only proto compiled
        # (loaded by path: `grpc` is grpcio's package name).
        subprocess.run(["protoc", f"-I{proto_dir}", f"--python_out={tmp}",
                        "grpc/reflection/v1alpha/reflection.proto"],
                       check=True)
        spec = importlib.util.spec_from_file_location(
            "reflection_pb2",
            os.path.join(tmp, "grpc/reflection/v1alpha/reflection_pb2.py"))
        pb = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(pb)

        with fresh_server(notifyd, os.path.join(tmp, "emulated")) as port:
            channel = grpc.insecure_channel(f"127.0.0.1:{port}")
            client = ReflectionClient(channel, pb)
            for command in commands:
                code, lines = run_emulated(client, channel, command.text, port)
                check_output(command, code, lines)
                print("ok:", command.text)
            check_coverage(client, channel, commands, port)
            # The documentation comes back through reflection.
            _, text = run_emulated(
                client, channel,
                f"grpcurl -plaintext {README_ADDRESS} describe "
                "notify.v1.Notifier", port)
            for line in notifier_comment(proto_dir):
                assert line in text, (line, text)
            channel.close()

        if shutil.which("grpcurl"):
            with fresh_server(notifyd, os.path.join(tmp, "real")) as port:
                for command in commands:
                    code, lines = run_real(command.text, port)
                    check_output(command, code, lines)
            print("real grpcurl: ok")
        else:
            print("grpcurl is not installed: checked with the emulation only")


if __name__ == "__main__":
    main()
