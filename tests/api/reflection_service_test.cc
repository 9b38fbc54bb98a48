// grpc.reflection.v1alpha from the embedded descriptors: what each kind of
// request answers (the service alone), and a real server's stream, which
// serves the protos with their comments and ends past its request limit.
#include "api/reflection_service.h"

#include <gmock/gmock.h>
#include <google/protobuf/descriptor.pb.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "api/embedded_descriptors.h"
#include "tests/server/test_server.h"

namespace notifyd::api {
namespace {

namespace refl = ::grpc::reflection::v1alpha;
using google::protobuf::FileDescriptorProto;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

// The names of the files a file_descriptor_response carries, in order.
std::vector<std::string> FileNames(const refl::ServerReflectionResponse& r) {
  std::vector<std::string> names;
  for (const std::string& bytes :
       r.file_descriptor_response().file_descriptor_proto()) {
    FileDescriptorProto file;
    EXPECT_TRUE(file.ParseFromString(bytes));
    names.push_back(file.name());
  }
  return names;
}

class ReflectionServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<ReflectionService>> created =
        ReflectionService::Create(EmbeddedDescriptorSet(), {});
    ASSERT_TRUE(created.ok()) << created.status();
    service_ = *std::move(created);
  }

  refl::ServerReflectionResponse Ask(const refl::ServerReflectionRequest& r) {
    refl::ServerReflectionResponse response;
    service_->Answer(r, &response);
    return response;
  }
  refl::ServerReflectionResponse Symbol(const std::string& symbol) {
    refl::ServerReflectionRequest request;
    request.set_file_containing_symbol(symbol);
    return Ask(request);
  }
  refl::ServerReflectionResponse Extension(const std::string& type,
                                           int32_t number) {
    refl::ServerReflectionRequest request;
    request.mutable_file_containing_extension()->set_containing_type(type);
    request.mutable_file_containing_extension()->set_extension_number(number);
    return Ask(request);
  }

  std::unique_ptr<ReflectionService> service_;
};

TEST_F(ReflectionServiceTest, ListsEveryServedServiceItselfIncluded) {
  refl::ServerReflectionRequest request;
  request.set_host("localhost");
  request.set_list_services("*");
  refl::ServerReflectionResponse response = Ask(request);
  std::vector<std::string> names;
  for (const auto& service : response.list_services_response().service()) {
    names.push_back(service.name());
  }
  EXPECT_THAT(
      names, UnorderedElementsAre("notify.v1.Notifier", "grpc.health.v1.Health",
                                  "grpc.reflection.v1alpha.ServerReflection"));
  EXPECT_EQ(response.valid_host(), "localhost");
  EXPECT_EQ(response.original_request().list_services(), "*");
}

// Services, methods, messages, fields, oneofs, enums and their values,
// nested or not: the defining file first, then what it imports.
TEST_F(ReflectionServiceTest, FindsTheFileOfEveryKindOfSymbol) {
  for (const char* symbol :
       {"notify.v1.Notifier", "notify.v1.Notifier.Publish",
        "notify.v1.NotifyUserRequest", "notify.v1.NotifyUserRequest.user_id",
        "notify.v1.ListNotificationsRequest.target", "notify.v1.Filter",
        "notify.v1.FILTER_UNREAD"}) {
    SCOPED_TRACE(symbol);
    EXPECT_THAT(FileNames(Symbol(symbol)),
                ElementsAre("notify/v1/notify.proto",
                            "google/protobuf/timestamp.proto"));
  }
  for (const char* symbol :
       {"grpc.health.v1.Health", "grpc.health.v1.Health.Check",
        "grpc.health.v1.HealthCheckResponse.ServingStatus",
        "grpc.health.v1.HealthCheckResponse.SERVING"}) {
    SCOPED_TRACE(symbol);
    EXPECT_THAT(FileNames(Symbol(symbol)),
                ElementsAre("grpc/health/v1/health.proto"));
  }
  EXPECT_THAT(FileNames(Symbol("grpc.reflection.v1alpha.ServerReflection")),
              ElementsAre("grpc/reflection/v1alpha/reflection.proto"));
  EXPECT_THAT(FileNames(Symbol("google.protobuf.Timestamp")),
              ElementsAre("google/protobuf/timestamp.proto"));
}

// The files are protoc's, comments included: what `grpcurl describe` shows.
TEST_F(ReflectionServiceTest, ServesTheProtosComments) {
  refl::ServerReflectionResponse response = Symbol("notify.v1.Notifier");
  FileDescriptorProto file;
  ASSERT_TRUE(file.ParseFromString(
      response.file_descriptor_response().file_descriptor_proto(0)));
  std::string service_comment;
  for (const auto& location : file.source_code_info().location()) {
    // 6 is FileDescriptorProto.service; Notifier is the first.
    if (location.path_size() == 2 && location.path(0) == 6 &&
        location.path(1) == 0) {
      service_comment = location.leading_comments();
    }
  }
  EXPECT_THAT(service_comment,
              HasSubstr("Notifier stores notifications durably"));
}

TEST_F(ReflectionServiceTest, FindsFilesByName) {
  refl::ServerReflectionRequest request;
  request.set_file_by_filename("grpc/health/v1/health.proto");
  EXPECT_THAT(FileNames(Ask(request)),
              ElementsAre("grpc/health/v1/health.proto"));
  request.set_file_by_filename("notify/v1/nope.proto");
  refl::ServerReflectionResponse missing = Ask(request);
  EXPECT_EQ(missing.error_response().error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(missing.error_response().error_message(),
            "file not found: notify/v1/nope.proto");
}

TEST_F(ReflectionServiceTest, UnknownSymbolsAreNotFoundByName) {
  for (const char* symbol :
       {"notify.v1.Nope", "notify.v1.Notifier.Nope", "", "notify.v2", "..."}) {
    SCOPED_TRACE(symbol);
    refl::ServerReflectionResponse response = Symbol(symbol);
    EXPECT_FALSE(response.has_file_descriptor_response());
    EXPECT_EQ(response.error_response().error_code(),
              grpc::StatusCode::NOT_FOUND);
    EXPECT_EQ(response.error_response().error_message(),
              std::string("symbol not found: ") + symbol);
    EXPECT_EQ(response.original_request().file_containing_symbol(), symbol);
  }
}

// The served protos define no extensions; numbers outside protobuf's field
// range are refused as such, whatever the type.
TEST_F(ReflectionServiceTest, ExtensionsAreNotFoundAndBadNumbersInvalid) {
  refl::ServerReflectionResponse none =
      Extension("notify.v1.NotifyUserRequest", 100);
  EXPECT_EQ(none.error_response().error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(none.error_response().error_message(),
            "notify.v1.NotifyUserRequest has no extension numbered 100");
  EXPECT_EQ(Extension("notify.v1.Nope", 100).error_response().error_code(),
            grpc::StatusCode::NOT_FOUND);
  for (int32_t number : {0, -1, 536870912, std::numeric_limits<int32_t>::max(),
                         std::numeric_limits<int32_t>::min()}) {
    SCOPED_TRACE(number);
    refl::ServerReflectionResponse bad =
        Extension("notify.v1.NotifyUserRequest", number);
    EXPECT_EQ(bad.error_response().error_code(),
              grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(bad.error_response().error_message(),
                HasSubstr("field numbers are 1..536870911"));
  }
}

TEST_F(ReflectionServiceTest, AllExtensionNumbersOfAKnownTypeAreNone) {
  refl::ServerReflectionRequest request;
  request.set_all_extension_numbers_of_type("notify.v1.Notification");
  refl::ServerReflectionResponse response = Ask(request);
  ASSERT_TRUE(response.has_all_extension_numbers_response());
  EXPECT_EQ(response.all_extension_numbers_response().base_type_name(),
            "notify.v1.Notification");
  EXPECT_THAT(response.all_extension_numbers_response().extension_number(),
              IsEmpty());

  request.set_all_extension_numbers_of_type("notify.v1.Notifier");  // service
  EXPECT_EQ(Ask(request).error_response().error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(ReflectionServiceTest, ARequestAskingNothingIsInvalid) {
  refl::ServerReflectionRequest request;
  request.set_host("h");
  refl::ServerReflectionResponse response = Ask(request);
  EXPECT_EQ(response.error_response().error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(response.error_response().error_message(),
              HasSubstr("asks nothing"));
}

// Past the longest name the answer is an error that does not echo it.
TEST_F(ReflectionServiceTest, NamesPastTheLimitAreInvalidAndNotEchoed) {
  const std::string longest(ReflectionService::Options{}.max_name_bytes, 'a');
  EXPECT_EQ(Symbol(longest).error_response().error_code(),
            grpc::StatusCode::NOT_FOUND);
  refl::ServerReflectionResponse response = Symbol(longest + "a");
  EXPECT_EQ(response.error_response().error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_FALSE(response.has_original_request());

  refl::ServerReflectionRequest request;
  request.set_host(longest + "a");
  request.set_list_services("");
  EXPECT_EQ(Ask(request).error_response().error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST(ReflectionServiceCreateTest, RefusesASetThatDoesNotParseOrBuild) {
  EXPECT_EQ(ReflectionService::Create("\xff\xff", {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  // notify.proto without the timestamp.proto it imports.
  google::protobuf::FileDescriptorSet set;
  ASSERT_TRUE(set.ParseFromString(std::string(EmbeddedDescriptorSet())));
  google::protobuf::FileDescriptorSet missing_import;
  for (const FileDescriptorProto& file : set.file()) {
    if (file.name() != "google/protobuf/timestamp.proto") {
      *missing_import.add_file() = file;
    }
  }
  absl::StatusOr<std::unique_ptr<ReflectionService>> created =
      ReflectionService::Create(missing_import.SerializeAsString(), {});
  EXPECT_EQ(created.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(created.status().message(), HasSubstr("notify/v1/notify.proto"));
}

// A real server: one stream answers request after request, errors
// included, until the limit, then ends with RESOURCE_EXHAUSTED.
TEST(ReflectionStreamTest, AnswersInOrderAndEndsPastTheRequestLimit) {
  testing::TestServer server;
  refl::ServerReflection::Stub stub(server.channel());
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(60));
  auto stream = stub.ServerReflectionInfo(&context);
  const size_t limit = ReflectionService::Options{}.max_requests_per_stream;
  refl::ServerReflectionRequest request;
  refl::ServerReflectionResponse response;
  for (size_t i = 0; i < limit; ++i) {
    request.set_file_containing_symbol(i % 2 == 0 ? "grpc.health.v1.Health"
                                                  : "no.such.Symbol");
    ASSERT_TRUE(stream->Write(request)) << i;
    ASSERT_TRUE(stream->Read(&response)) << i;
    if (i % 2 == 0) {
      ASSERT_THAT(FileNames(response),
                  ElementsAre("grpc/health/v1/health.proto"));
    } else {
      ASSERT_EQ(response.error_response().error_code(),
                grpc::StatusCode::NOT_FOUND);
    }
  }
  stream->Write(request);  // one too many
  EXPECT_FALSE(stream->Read(&response));
  stream->WritesDone();
  grpc::Status status = stream->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(status.error_message(),
              HasSubstr("more than 1000 reflection requests on one stream"));
}

// A client that is done asking ends the stream; it finishes OK.
TEST(ReflectionStreamTest, EndsOkWhenTheClientIsDone) {
  testing::TestServer server;
  refl::ServerReflection::Stub stub(server.channel());
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(30));
  auto stream = stub.ServerReflectionInfo(&context);
  refl::ServerReflectionRequest request;
  request.set_list_services("");
  ASSERT_TRUE(stream->Write(request));
  refl::ServerReflectionResponse response;
  ASSERT_TRUE(stream->Read(&response));
  EXPECT_EQ(response.list_services_response().service_size(), 3);
  stream->WritesDone();
  EXPECT_FALSE(stream->Read(&response));
  EXPECT_TRUE(stream->Finish().ok());
}

}  // namespace
}  // namespace notifyd::api
