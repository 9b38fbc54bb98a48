// The descriptors of every service notifyd offers, embedded in the binary
// at build time (proto/CMakeLists.txt): a serialized
// google.protobuf.FileDescriptorSet built by protoc with
// --include_source_info and --include_imports from notify/v1/notify.proto,
// grpc/health/v1/health.proto and grpc/reflection/v1alpha/reflection.proto,
// so it carries the protos' comments and every file they import, dependencies
// before the files that import them. What api/reflection_service.h serves.
#ifndef NOTIFYD_API_EMBEDDED_DESCRIPTORS_H_
#define NOTIFYD_API_EMBEDDED_DESCRIPTORS_H_

#include "absl/strings/string_view.h"

namespace notifyd::api {

// The set's bytes; static storage, valid for the life of the process.
absl::string_view EmbeddedDescriptorSet();

}  // namespace notifyd::api

#endif  // NOTIFYD_API_EMBEDDED_DESCRIPTORS_H_
