// grpc.reflection.v1alpha.ServerReflection, answered from the descriptors
// embedded in the binary (api/embedded_descriptors.h) rather than from the
// generated C++ descriptors gRPC's reflection plugin serves: these keep the
// protos' comments (`grpcurl describe` shows the API documentation), and
// describe grpc.health.v1.Health and the reflection service itself, which
// gRPC 1.51's plugin cannot.
//
// One stream carries any number of requests, each answered by one response
// in order (one write in flight; the next request is read once the answer
// is written, so a stream holds one request and one response at a time):
// - list_services: every service of the set's files (notify.v1.Notifier,
//   grpc.health.v1.Health, grpc.reflection.v1alpha.ServerReflection).
// - file_by_filename, file_containing_symbol (a service, method, message,
//   field, oneof, enum or enum value, nested or not, fully qualified): the
//   file's FileDescriptorProto as protoc wrote it, then every file it
//   imports, directly or not, each once.
// - file_containing_extension: the file defining that extension; the
//   served protos define none, so a known message answers NOT_FOUND.
// - all_extension_numbers_of_type: the extension numbers of a known
//   message (none: an empty list).
// Errors about one request are an error_response on the stream, which goes
// on: NOT_FOUND names what is unknown; INVALID_ARGUMENT for a request with
// no question, a name longer than Options::max_name_bytes, or an extension
// number outside 1..536870911 (the protobuf field number range). Past
// Options::max_requests_per_stream requests the stream ends with
// RESOURCE_EXHAUSTED. The request's size is bounded by gRPC's receive limit.
//
// Answers come from memory built once in Create; nothing blocks, so the
// reactor runs on gRPC's callback threads. Thread-safe; immutable after
// Create.
#ifndef NOTIFYD_API_REFLECTION_SERVICE_H_
#define NOTIFYD_API_REFLECTION_SERVICE_H_

#include <google/protobuf/descriptor.h>

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "grpc/reflection/v1alpha/reflection.grpc.pb.h"

namespace notifyd::api {

class ReflectionService final
    : public grpc::reflection::v1alpha::ServerReflection::CallbackService {
 public:
  struct Options {
    // Requests one stream may make; grpcurl makes a handful per command.
    size_t max_requests_per_stream = 1000;
    // Longest symbol, file name or host a request may carry.
    size_t max_name_bytes = 1024;
  };

  // Indexes a serialized google.protobuf.FileDescriptorSet whose files come
  // dependencies first (as protoc --include_imports writes them).
  // INVALID_ARGUMENT when it does not parse or a file does not build.
  static absl::StatusOr<std::unique_ptr<ReflectionService>> Create(
      absl::string_view descriptor_set, Options options);

  grpc::ServerBidiReactor<grpc::reflection::v1alpha::ServerReflectionRequest,
                          grpc::reflection::v1alpha::ServerReflectionResponse>*
  ServerReflectionInfo(grpc::CallbackServerContext* context) override;

  // The answer to one request (what the stream writes for it).
  void Answer(
      const grpc::reflection::v1alpha::ServerReflectionRequest& request,
      grpc::reflection::v1alpha::ServerReflectionResponse* response) const;

 private:
  class Stream;

  explicit ReflectionService(Options options) : options_(options) {}

  // Fills `response` with `file` and the files it imports, each once.
  void AddFileAndImports(
      const google::protobuf::FileDescriptor* file,
      grpc::reflection::v1alpha::FileDescriptorResponse* response) const;

  const Options options_;
  google::protobuf::DescriptorPool pool_;
  // File name -> its FileDescriptorProto's bytes from the set.
  absl::flat_hash_map<std::string, std::string> file_bytes_;
  std::vector<std::string> services_;
};

}  // namespace notifyd::api

#endif  // NOTIFYD_API_REFLECTION_SERVICE_H_
