// Requests that do not parse, sent as hand-made bytes through gRPC's
// generic stub to a real server: each answers INVALID_ARGUMENT saying what
// is wrong (gRPC's generated handlers would answer UNIMPLEMENTED with no
// message), and server reflection still describes the typed API.
#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/unknown_field_set.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <string>
#include <vector>

#include "tests/server/test_server.h"

namespace notifyd {
namespace {

namespace pb = ::notify::v1;

// Field `number` of a message, length-delimited, holding `value`.
std::string LengthDelimited(int number, const std::string& value) {
  std::string out;
  {
    google::protobuf::io::StringOutputStream stream(&out);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.WriteTag(static_cast<uint32_t>(number << 3) | 2);
    coded.WriteVarint32(static_cast<uint32_t>(value.size()));
    coded.WriteString(value);
  }
  return out;
}

constexpr char kInvalidUtf8[] = "\xff\xfe\xc3\x28";

class MalformedRequestTest : public ::testing::Test {
 protected:
  // One unary call of `method` ("NotifyUser") with `bytes` as its request.
  grpc::Status Call(const std::string& method, const std::string& bytes,
                    std::string* response = nullptr) {
    grpc::GenericStub stub(server_.channel());
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(10));
    grpc::Slice slice(bytes);
    grpc::ByteBuffer request(&slice, 1);
    grpc::ByteBuffer reply;
    std::promise<grpc::Status> done;
    stub.UnaryCall(&context, "/notify.v1.Notifier/" + method,
                   grpc::StubOptions(), &request, &reply,
                   [&](grpc::Status status) { done.set_value(status); });
    grpc::Status status = done.get_future().get();
    if (response != nullptr) *response = testing::FromByteBuffer(reply);
    return status;
  }

  uint64_t StoredCount() { return testing::StoredCount(server_.stub()); }

  testing::TestServer server_;
};

TEST_F(MalformedRequestTest, InvalidUtf8AnswersInvalidArgumentNamingTheField) {
  const std::string bytes =
      LengthDelimited(1, "alice") + LengthDelimited(3, kInvalidUtf8);  // data
  grpc::Status status = Call("NotifyUser", bytes);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(),
            "request does not parse: data is not valid UTF-8");
  EXPECT_EQ(StoredCount(), 0u);
  EXPECT_NE(server_.app().metrics().RenderText().find(
                "notifyd_grpc_calls_total{method=\"NotifyUser\","
                "code=\"INVALID_ARGUMENT\",caller=\"anonymous\"} 1"),
            std::string::npos);
}

TEST_F(MalformedRequestTest, ARepeatedFieldIsNamedWithItsIndex) {
  // IssueTokenRequest{user_id: "alice", channels: ["news", <invalid>]}.
  const std::string bytes = LengthDelimited(1, "alice") +
                            LengthDelimited(2, "news") +
                            LengthDelimited(2, kInvalidUtf8);
  grpc::Status status = Call("IssueToken", bytes);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(),
            "request does not parse: channels[1] is not valid UTF-8");
}

TEST_F(MalformedRequestTest, BytesThatAreNotProtobufAnswerInvalidArgument) {
  // Field 1 announces five bytes; two follow.
  const std::string truncated = std::string("\x0a\x05") + "al";
  for (const char* method :
       {"NotifyUser", "Publish", "ListNotifications", "MarkRead",
        "GetUnreadCount", "IssueToken", "GetStats", "MarkSeen", "SetArchived",
        "GetCounts", "DeleteNotifications"}) {
    SCOPED_TRACE(method);
    grpc::Status status = Call(method, truncated);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_EQ(status.error_message(),
              "request does not parse: not protobuf wire format");
  }
}

TEST_F(MalformedRequestTest, AValidRequestStillAnswersItsMessage) {
  std::string bytes;
  pb::NotifyUserRequest request;
  request.set_user_id("alice");
  request.set_data("caf\xc3\xa9");
  ASSERT_TRUE(request.SerializeToString(&bytes));
  std::string answer;
  grpc::Status status = Call("NotifyUser", bytes, &answer);
  ASSERT_TRUE(status.ok()) << status.error_message();
  pb::NotifyUserResponse response;
  ASSERT_TRUE(response.ParseFromString(answer));
  EXPECT_EQ(response.notification().channel(), "user:alice");
  EXPECT_EQ(response.notification().data(), "caf\xc3\xa9");
}

// What `grpcurl describe notify.v1.Notifier` asks: the file that defines
// the service, through server reflection (file_containing_symbol).
TEST_F(MalformedRequestTest, ReflectionStillDescribesTheTypedMethods) {
  grpc::GenericStub stub(server_.channel());
  grpc::CompletionQueue cq;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(10));
  auto call = stub.PrepareCall(
      &context,
      "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", &cq);
  void* tag;
  bool ok;
  auto step = [&](int n) {
    EXPECT_TRUE(cq.Next(&tag, &ok));
    EXPECT_EQ(tag, reinterpret_cast<void*>(n));
    return ok;
  };
  call->StartCall(reinterpret_cast<void*>(1));
  ASSERT_TRUE(step(1));
  // ServerReflectionRequest.file_containing_symbol = 4.
  grpc::Slice slice(LengthDelimited(4, "notify.v1.Notifier"));
  grpc::ByteBuffer out(&slice, 1);
  call->WriteLast(out, grpc::WriteOptions(), reinterpret_cast<void*>(2));
  ASSERT_TRUE(step(2));
  grpc::ByteBuffer in;
  call->Read(&in, reinterpret_cast<void*>(3));
  ASSERT_TRUE(step(3));
  const std::string response = testing::FromByteBuffer(in);
  while (ok) {  // the server ends the stream after our last message
    call->Read(&in, reinterpret_cast<void*>(3));
    step(3);
  }
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(4));
  step(4);
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
  ASSERT_TRUE(status.ok()) << status.error_message();

  // ServerReflectionResponse.file_descriptor_response = 4, whose
  // file_descriptor_proto = 1 entries are serialized FileDescriptorProtos.
  google::protobuf::UnknownFieldSet top;
  ASSERT_TRUE(top.ParseFromString(response));
  const google::protobuf::MethodDescriptorProto* notify_user = nullptr;
  std::vector<google::protobuf::FileDescriptorProto> files;
  for (int i = 0; i < top.field_count(); ++i) {
    if (top.field(i).number() != 4) continue;
    google::protobuf::UnknownFieldSet list;
    ASSERT_TRUE(list.ParseFromString(top.field(i).length_delimited()));
    for (int j = 0; j < list.field_count(); ++j) {
      ASSERT_TRUE(files.emplace_back().ParseFromString(
          list.field(j).length_delimited()));
    }
  }
  for (const auto& file : files) {
    for (const auto& service : file.service()) {
      if (file.package() != "notify.v1" || service.name() != "Notifier") {
        continue;
      }
      // Every method of the generated service, raw-registered or not.
      EXPECT_EQ(service.method_size(), pb::NotifyUserRequest::descriptor()
                                           ->file()
                                           ->FindServiceByName("Notifier")
                                           ->method_count());
      EXPECT_EQ(service.method_size(), 13);
      for (const auto& method : service.method()) {
        if (method.name() == "NotifyUser") notify_user = &method;
      }
    }
  }
  ASSERT_NE(notify_user, nullptr) << "no notify.v1.Notifier in the answer";
  EXPECT_EQ(notify_user->input_type(), ".notify.v1.NotifyUserRequest");
  EXPECT_EQ(notify_user->output_type(), ".notify.v1.NotifyUserResponse");
}

}  // namespace
}  // namespace notifyd
