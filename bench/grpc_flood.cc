// grpc_flood: the gRPC stream flood of docs/BENCHMARKS.md ("Floods"). Opens
// --connections gRPC connections to --target and starts --streams calls
// spread over them that send their headers and never a message (a client
// that does not authenticate and does not finish), holds them for --hold,
// then cancels them all and exits. Prints one JSON line: calls started,
// calls that failed to start, and how many the server ended before the
// hold was over (`ended`), of which `unauthenticated` were refused for
// their missing API key and `unavailable` never got a connection.
//
//   grpc_flood --target=127.0.0.1:50051 --connections=500 --streams=50000
//
// With --tls_ca (a PEM file), the connections use TLS trusting that CA.
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

ABSL_FLAG(std::string, target, "127.0.0.1:50051", "notifyd gRPC address");
ABSL_FLAG(int, connections, 500, "gRPC connections (channels)");
ABSL_FLAG(int, streams, 50000, "calls in all, spread over the connections");
ABSL_FLAG(absl::Duration, hold, absl::Seconds(10), "how long to hold them");
ABSL_FLAG(std::string, tls_ca, "",
          "PEM CA certificate(s): connect over TLS trusting them");
ABSL_FLAG(std::string, method, "/notify.v1.Notifier/NotifyUser",
          "method the calls name");

namespace {

struct Call;

// A completion-queue tag: which call, and which of its two operations.
struct Tag {
  Call* call;
  bool finish;
};

struct Call {
  grpc::ClientContext context;
  std::unique_ptr<grpc::GenericClientAsyncReaderWriter> stream;
  grpc::Status status;
  Tag start_tag{this, false};
  Tag finish_tag{this, true};
};

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const int connections = std::max(1, absl::GetFlag(FLAGS_connections));
  const int streams = absl::GetFlag(FLAGS_streams);
  std::shared_ptr<grpc::ChannelCredentials> credentials =
      grpc::InsecureChannelCredentials();
  if (const std::string ca = absl::GetFlag(FLAGS_tls_ca); !ca.empty()) {
    std::ifstream in(ca);
    std::stringstream pem;
    pem << in.rdbuf();
    if (!in) {
      std::fprintf(stderr, "cannot read --tls_ca=%s\n", ca.c_str());
      return 2;
    }
    grpc::SslCredentialsOptions options;
    options.pem_root_certs = pem.str();
    credentials = grpc::SslCredentials(options);
  }
  grpc::CompletionQueue cq;
  std::vector<std::unique_ptr<grpc::GenericStub>> stubs;
  for (int i = 0; i < connections; ++i) {
    grpc::ChannelArguments args;
    // A distinct argument per channel keeps gRPC from sharing one
    // connection between them.
    args.SetInt("notifyd.flood.connection", i);
    stubs.push_back(
        std::make_unique<grpc::GenericStub>(grpc::CreateCustomChannel(
            absl::GetFlag(FLAGS_target), credentials, args)));
  }
  std::vector<std::unique_ptr<Call>> calls;
  calls.reserve(streams);
  for (int i = 0; i < streams; ++i) {
    auto call = std::make_unique<Call>();
    call->stream = stubs[i % connections]->PrepareCall(
        &call->context, absl::GetFlag(FLAGS_method), &cq);
    call->stream->StartCall(&call->start_tag);
    calls.push_back(std::move(call));
  }
  // Collect StartCall and Finish completions until the hold is over.
  int started = 0, failed = 0, ended = 0, unauthenticated = 0, unavailable = 0;
  const absl::Time end = absl::Now() + absl::GetFlag(FLAGS_hold);
  for (;;) {
    void* tag = nullptr;
    bool ok = false;
    auto deadline = absl::ToChronoTime(end);
    grpc::CompletionQueue::NextStatus st = cq.AsyncNext(&tag, &ok, deadline);
    if (st == grpc::CompletionQueue::TIMEOUT) break;
    if (st == grpc::CompletionQueue::SHUTDOWN) break;
    Call* call = static_cast<Tag*>(tag)->call;
    if (static_cast<Tag*>(tag)->finish) {
      // The server ended the call (the client sent nothing but headers).
      ++ended;
      if (call->status.error_code() == grpc::StatusCode::UNAUTHENTICATED) {
        ++unauthenticated;
      } else if (call->status.error_code() == grpc::StatusCode::UNAVAILABLE) {
        ++unavailable;
      }
      continue;
    }
    if (ok) {
      ++started;
    } else {
      ++failed;  // the headers could not be sent: the stream was refused
    }
    // Ask for the status now, so a call the server ends is seen.
    call->stream->Finish(&call->status, &call->finish_tag);
  }
  for (auto& call : calls) call->context.TryCancel();
  std::printf(
      "{\"calls\":%d,\"started\":%d,\"failed\":%d,\"ended\":%d,"
      "\"unauthenticated\":%d,\"unavailable\":%d}\n",
      streams, started, failed, ended, unauthenticated, unavailable);
  std::fflush(stdout);
  // Quick exit: tearing 50,000 calls down one by one measures nothing.
  std::_Exit(0);
}
