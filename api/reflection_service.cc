#include "api/reflection_service.h"

#include <google/protobuf/descriptor.pb.h>

#include <cstdint>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace notifyd::api {
namespace {

namespace refl = ::grpc::reflection::v1alpha;
using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::FileDescriptor;

// protobuf's largest field number (2^29 - 1).
constexpr int32_t kMaxFieldNumber = 536870911;

void SetError(absl::Status status, refl::ServerReflectionResponse* response) {
  refl::ErrorResponse* error = response->mutable_error_response();
  error->set_error_code(static_cast<int32_t>(status.code()));
  error->set_error_message(std::string(status.message()));
}

// The one name the request carries (symbol, file or type), or "".
const std::string& NameOf(const refl::ServerReflectionRequest& request) {
  switch (request.message_request_case()) {
    case refl::ServerReflectionRequest::kFileByFilename:
      return request.file_by_filename();
    case refl::ServerReflectionRequest::kFileContainingSymbol:
      return request.file_containing_symbol();
    case refl::ServerReflectionRequest::kFileContainingExtension:
      return request.file_containing_extension().containing_type();
    case refl::ServerReflectionRequest::kAllExtensionNumbersOfType:
      return request.all_extension_numbers_of_type();
    case refl::ServerReflectionRequest::kListServices:
      return request.list_services();
    default:
      return request.host();  // nothing asked: checked by the caller
  }
}

}  // namespace

class ReflectionService::Stream final
    : public grpc::ServerBidiReactor<refl::ServerReflectionRequest,
                                     refl::ServerReflectionResponse> {
 public:
  explicit Stream(const ReflectionService& service) : service_(service) {
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {  // the client is done asking (or gone)
      Finish(grpc::Status::OK);
      return;
    }
    if (++requests_ > service_.options_.max_requests_per_stream) {
      Finish(grpc::Status(
          grpc::StatusCode::RESOURCE_EXHAUSTED,
          absl::StrCat("more than ", service_.options_.max_requests_per_stream,
                       " reflection requests on one stream; open another")));
      return;
    }
    response_.Clear();
    service_.Answer(request_, &response_);
    StartWrite(&response_);
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "stream closed"));
      return;
    }
    StartRead(&request_);
  }

  void OnDone() override { delete this; }

 private:
  const ReflectionService& service_;
  refl::ServerReflectionRequest request_;
  refl::ServerReflectionResponse response_;
  size_t requests_ = 0;
};

absl::StatusOr<std::unique_ptr<ReflectionService>> ReflectionService::Create(
    absl::string_view descriptor_set, Options options) {
  google::protobuf::FileDescriptorSet set;
  if (!set.ParseFromArray(descriptor_set.data(),
                          static_cast<int>(descriptor_set.size()))) {
    return absl::InvalidArgumentError("descriptor set does not parse");
  }
  std::unique_ptr<ReflectionService> service(new ReflectionService(options));
  for (const google::protobuf::FileDescriptorProto& proto : set.file()) {
    const FileDescriptor* file = service->pool_.BuildFile(proto);
    if (file == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("descriptor set: ", proto.name(), " does not build"));
    }
    service->file_bytes_[proto.name()] = proto.SerializeAsString();
    for (int i = 0; i < file->service_count(); ++i) {
      service->services_.push_back(file->service(i)->full_name());
    }
  }
  return service;
}

grpc::ServerBidiReactor<refl::ServerReflectionRequest,
                        refl::ServerReflectionResponse>*
ReflectionService::ServerReflectionInfo(
    grpc::CallbackServerContext* /*context*/) {
  return new Stream(*this);
}

void ReflectionService::AddFileAndImports(
    const FileDescriptor* file, refl::FileDescriptorResponse* response) const {
  absl::flat_hash_set<const FileDescriptor*> added = {file};
  std::vector<const FileDescriptor*> pending = {file};
  while (!pending.empty()) {
    const FileDescriptor* next = pending.back();
    pending.pop_back();
    response->add_file_descriptor_proto(file_bytes_.at(next->name()));
    for (int i = 0; i < next->dependency_count(); ++i) {
      if (added.insert(next->dependency(i)).second) {
        pending.push_back(next->dependency(i));
      }
    }
  }
}

void ReflectionService::Answer(const refl::ServerReflectionRequest& request,
                               refl::ServerReflectionResponse* response) const {
  const std::string& name = NameOf(request);
  if (name.size() > options_.max_name_bytes ||
      request.host().size() > options_.max_name_bytes) {
    // Not echoed: the answer stays small whatever was asked.
    SetError(absl::InvalidArgumentError(absl::StrCat(
                 "names are at most ", options_.max_name_bytes, " bytes")),
             response);
    return;
  }
  response->set_valid_host(request.host());
  *response->mutable_original_request() = request;
  switch (request.message_request_case()) {
    case refl::ServerReflectionRequest::kListServices:
      for (const std::string& service : services_) {
        response->mutable_list_services_response()->add_service()->set_name(
            service);
      }
      return;
    case refl::ServerReflectionRequest::kFileByFilename:
      if (const FileDescriptor* file = pool_.FindFileByName(name)) {
        AddFileAndImports(file, response->mutable_file_descriptor_response());
      } else {
        SetError(absl::NotFoundError(absl::StrCat("file not found: ", name)),
                 response);
      }
      return;
    case refl::ServerReflectionRequest::kFileContainingSymbol:
      if (const FileDescriptor* file = pool_.FindFileContainingSymbol(name)) {
        AddFileAndImports(file, response->mutable_file_descriptor_response());
      } else {
        SetError(absl::NotFoundError(absl::StrCat("symbol not found: ", name)),
                 response);
      }
      return;
    case refl::ServerReflectionRequest::kFileContainingExtension: {
      const int32_t number =
          request.file_containing_extension().extension_number();
      const Descriptor* type = pool_.FindMessageTypeByName(name);
      if (number < 1 || number > kMaxFieldNumber) {
        SetError(absl::InvalidArgumentError(
                     absl::StrCat("extension_number is ", number,
                                  "; field numbers are 1..", kMaxFieldNumber)),
                 response);
      } else if (type == nullptr) {
        SetError(absl::NotFoundError(absl::StrCat("type not found: ", name)),
                 response);
      } else if (const FieldDescriptor* extension =
                     pool_.FindExtensionByNumber(type, number)) {
        AddFileAndImports(extension->file(),
                          response->mutable_file_descriptor_response());
      } else {
        SetError(absl::NotFoundError(
                     absl::StrCat(name, " has no extension numbered ", number)),
                 response);
      }
      return;
    }
    case refl::ServerReflectionRequest::kAllExtensionNumbersOfType: {
      const Descriptor* type = pool_.FindMessageTypeByName(name);
      if (type == nullptr) {
        SetError(absl::NotFoundError(absl::StrCat("type not found: ", name)),
                 response);
        return;
      }
      refl::ExtensionNumberResponse* numbers =
          response->mutable_all_extension_numbers_response();
      numbers->set_base_type_name(type->full_name());
      std::vector<const FieldDescriptor*> extensions;
      pool_.FindAllExtensions(type, &extensions);
      for (const FieldDescriptor* extension : extensions) {
        numbers->add_extension_number(extension->number());
      }
      return;
    }
    default:
      SetError(absl::InvalidArgumentError(
                   "the request asks nothing: set one of file_by_filename, "
                   "file_containing_symbol, file_containing_extension, "
                   "all_extension_numbers_of_type or list_services"),
               response);
      return;
  }
}

}  // namespace notifyd::api
