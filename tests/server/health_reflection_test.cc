// Operators' tools work with no proto files: grpc.health.v1 answers per
// service and server reflection lists notify.v1.Notifier. The test speaks
// both protocols through gRPC's generic stub, encoding the few fields it
// needs with protobuf's wire-format classes.
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/unknown_field_set.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/server/test_server.h"

namespace notifyd {
namespace {

using google::protobuf::UnknownFieldSet;

// A message whose field `number` is the string `value`.
std::string StringField(int number, const std::string& value) {
  std::string out;
  google::protobuf::io::StringOutputStream stream(&out);
  google::protobuf::io::CodedOutputStream coded(&stream);
  coded.WriteTag((number << 3) | 2);
  coded.WriteVarint32(static_cast<uint32_t>(value.size()));
  coded.WriteString(value);
  coded.Trim();
  return out;
}

grpc::ByteBuffer ToBuffer(const std::string& bytes) {
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

// Calls one RPC by name with raw bytes, waiting for the answer.
grpc::Status RawCall(grpc::Channel* channel, const std::string& method,
                     const std::string& request, std::string* response,
                     bool streaming) {
  grpc::GenericStub stub(channel->shared_from_this());
  grpc::CompletionQueue cq;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(5));
  auto call = stub.PrepareCall(&context, method, &cq);
  void* tag;
  bool ok;
  call->StartCall(reinterpret_cast<void*>(1));
  cq.Next(&tag, &ok);
  grpc::ByteBuffer out = ToBuffer(request);
  call->Write(out, reinterpret_cast<void*>(2));
  cq.Next(&tag, &ok);
  call->WritesDone(reinterpret_cast<void*>(3));
  cq.Next(&tag, &ok);
  grpc::ByteBuffer in;
  call->Read(&in, reinterpret_cast<void*>(4));
  cq.Next(&tag, &ok);
  if (ok) *response = testing::FromByteBuffer(in);
  if (streaming) {
    // Drain until the server ends the stream.
    while (ok) {
      call->Read(&in, reinterpret_cast<void*>(4));
      cq.Next(&tag, &ok);
    }
  }
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(5));
  cq.Next(&tag, &ok);
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
  return status;
}

int HealthStatus(testing::TestServer& server, const std::string& service) {
  std::string response;
  grpc::Status status =
      RawCall(server.channel().get(), "/grpc.health.v1.Health/Check",
              StringField(1, service), &response, false);
  if (!status.ok()) return -status.error_code();
  UnknownFieldSet fields;
  if (!fields.ParseFromString(response)) return -100;
  // HealthCheckResponse.status = 1; SERVING = 1 (absent means UNKNOWN = 0).
  for (int i = 0; i < fields.field_count(); ++i) {
    if (fields.field(i).number() == 1) {
      return static_cast<int>(fields.field(i).varint());
    }
  }
  return 0;
}

TEST(HealthTest, ServerAndNotifierAreServingAndUnknownServicesAreNotFound) {
  testing::TestServer server;
  constexpr int kServing = 1;
  EXPECT_EQ(HealthStatus(server, ""), kServing);
  EXPECT_EQ(HealthStatus(server, "notify.v1.Notifier"), kServing);
  EXPECT_EQ(HealthStatus(server, "no.such.Service"),
            -grpc::StatusCode::NOT_FOUND);
}

TEST(ReflectionTest, ListsTheNotifierService) {
  testing::TestServer server;
  std::string response;
  // ServerReflectionRequest.list_services = 7.
  grpc::Status status =
      RawCall(server.channel().get(),
              "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
              StringField(7, "*"), &response, true);
  ASSERT_TRUE(status.ok()) << status.error_message();
  // ServerReflectionResponse.list_services_response = 6, whose
  // service = 1 entries each carry name = 1.
  UnknownFieldSet top;
  ASSERT_TRUE(top.ParseFromString(response));
  std::vector<std::string> names;
  for (int i = 0; i < top.field_count(); ++i) {
    if (top.field(i).number() != 6) continue;
    UnknownFieldSet list;
    ASSERT_TRUE(list.ParseFromString(top.field(i).length_delimited()));
    for (int j = 0; j < list.field_count(); ++j) {
      UnknownFieldSet service;
      ASSERT_TRUE(service.ParseFromString(list.field(j).length_delimited()));
      names.push_back(service.field(0).length_delimited());
    }
  }
  EXPECT_NE(std::find(names.begin(), names.end(), "notify.v1.Notifier"),
            names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "grpc.health.v1.Health"),
            names.end());
}

}  // namespace
}  // namespace notifyd
