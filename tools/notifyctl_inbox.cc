// notifyctl's inbox commands: seen, read (--unread), archive, unarchive,
// counts and delete, one gRPC call each (docs/DESIGN.md, The inbox).
#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/declare.h"
#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "tools/notifyctl_common.h"

ABSL_DECLARE_FLAG(bool, json);
ABSL_DECLARE_FLAG(std::string, channel);
ABSL_DECLARE_FLAG(std::string, collapse_key);
ABSL_FLAG(uint64_t, up_to_id, 0,
          "seen, read, archive, unarchive: also every id up to this one");
ABSL_FLAG(bool, unread, false, "read: mark unread instead");

namespace notifyd::tools {
namespace {

namespace pb = ::notify::v1;

// Prints a state change's answer: `changed` and the counts after it.
template <typename Response>
int PrintChanged(const Response& response, const std::string& what) {
  if (absl::GetFlag(FLAGS_json)) {
    PrintJson(response);
  } else {
    std::cout << "marked " << response.changed() << " " << what << "; "
              << response.counts().unread() << " unread, "
              << response.counts().unseen() << " unseen\n";
  }
  return 0;
}

// seen/read/archive/unarchive <user_id> [id...] [--up_to_id=ID].
template <typename Request, typename Response, typename Method>
int Change(const std::vector<std::string>& args, Request request, Method method,
           const ContextFactory& context, const std::string& what) {
  if (args.size() < 2) return Usage(args[0] + " takes a user_id");
  request.set_user_id(args[1]);
  if (!ParseIds(args, 2, request.mutable_ids())) return 2;
  request.set_up_to_id(absl::GetFlag(FLAGS_up_to_id));
  if (request.ids_size() == 0 && request.up_to_id() == 0) {
    return Usage(args[0] + " takes ids or --up_to_id");
  }
  Response response;
  grpc::Status status = method(context().get(), request, &response);
  return status.ok() ? PrintChanged(response, what) : FailRpc(status);
}

int Counts(const std::vector<std::string>& args, pb::Notifier::Stub& stub,
           const ContextFactory& context) {
  if (args.size() != 2) return Usage("counts takes a user_id");
  pb::GetCountsRequest request;
  request.set_user_id(args[1]);
  pb::GetCountsResponse response;
  grpc::Status status = stub.GetCounts(context().get(), request, &response);
  if (!status.ok()) return FailRpc(status);
  if (absl::GetFlag(FLAGS_json)) {
    PrintJson(response);
  } else {
    std::cout << response.unread() << " unread, " << response.unseen()
              << " unseen\n";
  }
  return 0;
}

// delete <user_id> [id...] | delete --channel=C [id...]; --collapse_key=K.
int Delete(const std::vector<std::string>& args, pb::Notifier::Stub& stub,
           const ContextFactory& context) {
  pb::DeleteNotificationsRequest request;
  size_t first_id = 2;
  if (!absl::GetFlag(FLAGS_channel).empty()) {
    request.set_channel(absl::GetFlag(FLAGS_channel));
    first_id = 1;
  } else if (args.size() >= 2) {
    request.set_user_id(args[1]);
  } else {
    return Usage("delete takes a user_id or --channel");
  }
  if (!ParseIds(args, first_id, request.mutable_ids())) return 2;
  request.set_collapse_key(absl::GetFlag(FLAGS_collapse_key));
  if (request.ids_size() == 0 && request.collapse_key().empty()) {
    return Usage("delete takes ids or --collapse_key");
  }
  pb::DeleteNotificationsResponse response;
  grpc::Status status =
      stub.DeleteNotifications(context().get(), request, &response);
  if (!status.ok()) return FailRpc(status);
  if (absl::GetFlag(FLAGS_json)) {
    PrintJson(response);
    return 0;
  }
  std::cout << "deleted " << response.deleted();
  if (response.has_counts()) {
    std::cout << "; " << response.counts().unread() << " unread, "
              << response.counts().unseen() << " unseen";
  }
  std::cout << "\n";
  return 0;
}

}  // namespace

int RunInboxCommand(const std::vector<std::string>& args,
                    pb::Notifier::Stub& stub, const ContextFactory& context,
                    bool* handled) {
  *handled = true;
  const std::string& command = args[0];
  auto call = [&stub](auto rpc) {
    return [&stub, rpc](grpc::ClientContext* c, const auto& request,
                        auto* response) {
      return (stub.*rpc)(c, request, response);
    };
  };
  if (command == "seen") {
    return Change<pb::MarkSeenRequest, pb::MarkSeenResponse>(
        args, {}, call(&pb::Notifier::Stub::MarkSeen), context, "seen");
  }
  if (command == "read") {
    pb::MarkReadRequest request;
    request.set_unread(absl::GetFlag(FLAGS_unread));
    return Change<pb::MarkReadRequest, pb::MarkReadResponse>(
        args, request, call(&pb::Notifier::Stub::MarkRead), context,
        request.unread() ? "unread" : "read");
  }
  if (command == "archive" || command == "unarchive") {
    pb::SetArchivedRequest request;
    request.set_archived(command == "archive");
    return Change<pb::SetArchivedRequest, pb::SetArchivedResponse>(
        args, request, call(&pb::Notifier::Stub::SetArchived), context,
        request.archived() ? "archived" : "unarchived");
  }
  if (command == "counts") return Counts(args, stub, context);
  if (command == "delete") return Delete(args, stub, context);
  *handled = false;
  return 0;
}

}  // namespace notifyd::tools
