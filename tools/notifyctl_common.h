// What notifyctl's commands share (tools/notifyctl.cc and
// tools/notifyctl_inbox.cc): how they report errors and print answers, and
// how they make a call's context. Single-threaded, like notifyctl.
#ifndef NOTIFYD_TOOLS_NOTIFYCTL_COMMON_H_
#define NOTIFYD_TOOLS_NOTIFYCTL_COMMON_H_

#include <google/protobuf/message.h>
#include <grpcpp/grpcpp.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <istream>
#include <memory>
#include <string>
#include <vector>

#include "notify/v1/notify.grpc.pb.h"

namespace notifyd::tools {

// notifyctl's --help text.
extern const char kUsage[];

// Prints "notifyctl: <message>" to stderr; returns exit code 1.
int Fail(const std::string& message);
// Prints the message and kUsage to stderr; returns exit code 2.
int Usage(const std::string& message);
// Prints a failed call's code and message; returns exit code 1.
int FailRpc(const grpc::Status& status);

// One JSON object per line (protobuf's canonical JSON, defaults included).
void PrintJson(const google::protobuf::Message& message);
// A notification for people: id, time, channel, event, state marks, data.
void PrintNotification(const notify::v1::Notification& n);

// Parses args[first..] as ids into `ids`; false (after a usage message)
// when one is not a number.
bool ParseIds(const std::vector<std::string>& args, size_t first,
              google::protobuf::RepeatedField<uint64_t>* ids);

// A fresh context for one call: deadline and API key applied.
using ContextFactory = std::function<std::unique_ptr<grpc::ClientContext>()>;

// Runs the inbox commands (seen, read, archive, unarchive, counts,
// delete); `handled` is set false for any other command.
int RunInboxCommand(const std::vector<std::string>& args,
                    notify::v1::Notifier::Stub& stub,
                    const ContextFactory& context, bool* handled);

// notify|publish --stdin: each line of `in` is the data of one NotifyUser
// (or Publish) to `target`, sent through one PublishStream; prints what
// became of them and, with `progress`, a progress line on stderr. Exit
// code: 0 when every line was stored (or a duplicate), 1 otherwise.
struct StreamLinesOptions {
  bool publish = false;
  std::string target;
  std::string event;
  // Non-empty: line n carries the key "<idempotency_key>-<n>", so that
  // running the same input again stores nothing twice.
  std::string idempotency_key;
  bool progress = false;
};
int StreamLines(const StreamLinesOptions& options, std::istream& in,
                notify::v1::Notifier::Stub& stub,
                std::unique_ptr<grpc::ClientContext> context);

// vapid-keygen [FILE]: writes a new VAPID private key (PEM) to FILE,
// created with mode 0600 and never over an existing file, and prints the
// public key (base64url, the browsers' applicationServerKey); without FILE
// (or with -) the PEM goes to stdout and the public key to stderr. Exit
// code 0, or 1 (after a message) when the file cannot be written.
int VapidKeygen(const std::vector<std::string>& args);

}  // namespace notifyd::tools

#endif  // NOTIFYD_TOOLS_NOTIFYCTL_COMMON_H_
