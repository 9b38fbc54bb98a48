// PublishStream as a producer sees it (api/publish_stream.h): every message
// answered with its ref after commit, in the order sent; refusals answered
// in place; a producer that does not read its answers held back by flow
// control; a producer cut off mid-stream that re-sends what was not
// answered loses nothing and stores nothing twice. A real server on
// 127.0.0.1 port 0 and the generated stub.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/server/test_server.h"

namespace notifyd {
namespace {

namespace pb = ::notify::v1;
using ::testing::HasSubstr;
using Stream = grpc::ClientReaderWriter<pb::PublishStreamRequest,
                                        pb::PublishStreamResponse>;

pb::PublishStreamRequest ToUser(const std::string& ref, const std::string& user,
                                const std::string& key = "") {
  pb::PublishStreamRequest m;
  m.set_ref(ref);
  m.mutable_notify_user()->set_user_id(user);
  m.mutable_notify_user()->set_data(absl::StrCat("{\"ref\":\"", ref, "\"}"));
  m.mutable_notify_user()->set_idempotency_key(key);
  return m;
}

class PublishStreamTest : public ::testing::Test {
 protected:
  explicit PublishStreamTest(server::AppOptions options = {})
      : server_(std::move(options)) {}

  pb::Notifier::Stub& stub() { return server_.stub(); }

  testing::TestServer server_;
};

TEST_F(PublishStreamTest, EachMessageIsAnsweredWithItsRefInOrderAfterCommit) {
  grpc::ClientContext context;
  std::unique_ptr<Stream> stream = stub().PublishStream(&context);
  for (int i = 0; i < 200; ++i) {
    if (i % 2 == 0) {
      ASSERT_TRUE(stream->Write(ToUser(absl::StrCat("r", i), "ann")));
    } else {
      pb::PublishStreamRequest m;
      m.set_ref(absl::StrCat("r", i));
      m.mutable_publish()->set_channel("news");
      m.mutable_publish()->set_data("headline");
      ASSERT_TRUE(stream->Write(m));
    }
  }
  stream->WritesDone();
  pb::PublishStreamResponse answer;
  uint64_t last_id = 0;
  for (int i = 0; i < 200; ++i) {
    ASSERT_TRUE(stream->Read(&answer)) << i;
    EXPECT_EQ(answer.ref(), absl::StrCat("r", i));
    EXPECT_EQ(answer.code(), 0u) << answer.message();
    const pb::Notification& n = i % 2 == 0 ? answer.notify_user().notification()
                                           : answer.publish().notification();
    EXPECT_EQ(n.channel(), i % 2 == 0 ? "user:ann" : "news");
    EXPECT_GT(n.id(), last_id);  // commit order
    last_id = n.id();
  }
  EXPECT_FALSE(stream->Read(&answer));
  grpc::Status status = stream->Finish();
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(testing::StoredCount(stub()), 200u);
}

// The producer sends everything, then only waits: every answer must come
// without anything more from it. (gRPC's buffer hint, once used to send the
// answers one commit finishes together, held them for 60 s here: the
// deadline makes such a stall a failure.)
TEST_F(PublishStreamTest, ARefusedMessageIsAnsweredInPlaceAndTheStreamGoesOn) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(20));
  std::unique_ptr<Stream> stream = stub().PublishStream(&context);
  pb::PublishStreamRequest empty;
  empty.set_ref("empty");
  pb::PublishStreamRequest long_ref = ToUser(std::string(129, 'r'), "ann");
  pb::PublishStreamRequest reserved;
  reserved.set_ref("reserved");
  reserved.mutable_publish()->set_channel("user:ann");
  for (const auto& m : {ToUser("ok1", "ann"), ToUser("bad", "no spaces"), empty,
                        long_ref, reserved, ToUser("ok2", "bo")}) {
    ASSERT_TRUE(stream->Write(m));
  }
  stream->WritesDone();
  struct Want {
    std::string ref;
    uint32_t code;
    std::string message;
  };
  const std::vector<Want> want = {
      {"ok1", 0, ""},
      {"bad", 3, "user_id has a character outside"},
      {"empty", 3, "carries notify_user or publish"},
      {std::string(129, 'r'), 3, "ref is 129 bytes; at most 128"},
      {"reserved", 3, "channel"},
      {"ok2", 0, ""}};
  for (const Want& w : want) {
    pb::PublishStreamResponse answer;
    ASSERT_TRUE(stream->Read(&answer));
    EXPECT_EQ(answer.ref(), w.ref);
    EXPECT_EQ(answer.code(), w.code) << answer.message();
    EXPECT_THAT(answer.message(), HasSubstr(w.message));
    EXPECT_EQ(answer.has_notify_user() || answer.has_publish(), w.code == 0);
  }
  EXPECT_TRUE(stream->Finish().ok());
  EXPECT_EQ(testing::StoredCount(stub()), 2u);
}

server::AppOptions SmallWindow() {
  server::AppOptions options;
  options.max_stream_inflight = 8;
  return options;
}

class PublishStreamFlowTest : public PublishStreamTest {
 protected:
  PublishStreamFlowTest() : PublishStreamTest(SmallWindow()) {}
};

TEST_F(PublishStreamFlowTest, AProducerThatDoesNotReadIsHeldBack) {
  constexpr int kMessages = 20'000;
  // A client whose receive window stays at HTTP/2's 64 KiB (no BDP
  // probing), so that unread answers fill it after a few hundred.
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  auto channel = grpc::CreateCustomChannel(
      server_.app().grpc_target(), grpc::InsecureChannelCredentials(), args);
  auto producer_stub = pb::Notifier::NewStub(channel);
  grpc::ClientContext context;
  std::unique_ptr<Stream> stream = producer_stub->PublishStream(&context);
  std::atomic<int> written{0};
  std::thread producer([&] {
    for (int i = 0; i < kMessages; ++i) {
      if (!stream->Write(ToUser(absl::StrCat(i), absl::StrCat("u", i % 100))))
        return;
      written.fetch_add(1);
    }
    stream->WritesDone();
  });
  // Nobody reads the answers: once the answers fill the transport's window
  // and 8 messages wait, notifyd stops reading and the producer stalls.
  uint64_t stored = 0;
  for (int i = 0; i < 100; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    uint64_t now = testing::StoredCount(stub());
    if (i > 20 && now == stored) break;
    stored = now;
  }
  const int stalled_at = written.load();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_EQ(testing::StoredCount(stub()), stored);
  EXPECT_EQ(written.load(), stalled_at);
  EXPECT_LT(stored, static_cast<uint64_t>(kMessages / 2));

  // Reading lets it go on to the end: every message answered once, in order.
  pb::PublishStreamResponse answer;
  for (int i = 0; i < kMessages; ++i) {
    ASSERT_TRUE(stream->Read(&answer)) << i;
    ASSERT_EQ(answer.ref(), absl::StrCat(i));
    ASSERT_EQ(answer.code(), 0u) << answer.message();
  }
  producer.join();
  EXPECT_TRUE(stream->Finish().ok());
  EXPECT_EQ(testing::StoredCount(stub()), static_cast<uint64_t>(kMessages));
}

// Many fast producers, none reading: each is held once its answers fill
// the transport and max_stream_inflight messages wait, so notifyd holds a
// bounded amount per stream (gRPC's window for a stream's messages stays
// at its fixed look-ahead instead of growing with the transfer rate).
TEST_F(PublishStreamTest, ManyFastProducersThatDoNotReadAreAllHeldBack) {
  constexpr int kProducers = 16;
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  std::vector<std::thread> producers;
  std::atomic<uint64_t> written{0};
  for (int p = 0; p < kProducers; ++p) {
    grpc::ChannelArguments args;
    args.SetInt("test.producer", p);  // a connection of its own
    args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
    auto channel = grpc::CreateCustomChannel(
        server_.app().grpc_target(), grpc::InsecureChannelCredentials(), args);
    contexts.push_back(std::make_unique<grpc::ClientContext>());
    producers.emplace_back([&, p, channel, context = contexts.back().get()] {
      auto producer_stub = pb::Notifier::NewStub(channel);
      std::unique_ptr<Stream> stream = producer_stub->PublishStream(context);
      pb::PublishStreamRequest m = ToUser("r", absl::StrCat("u", p));
      m.mutable_notify_user()->set_data(std::string(1024, 'x'));
      while (stream->Write(m)) written.fetch_add(1);
      stream->Finish();
    });
  }
  // Until nothing more gets through for a second (or 20 s pass).
  uint64_t seen = 0;
  for (int i = 0; i < 20; ++i) {
    std::this_thread::sleep_for(std::chrono::seconds(1));
    const uint64_t now = written.load();
    if (i > 0 && now == seen) break;
    seen = now;
  }
  const uint64_t held_at = written.load();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_EQ(written.load(), held_at) << "producers still getting through";
  // Per stream: its look-ahead (256 KiB of 1 KiB messages), the 256 read
  // ahead and the answers in the producer's 64 KiB window, with room.
  EXPECT_LT(held_at, static_cast<uint64_t>(kProducers) * 4000);
  for (auto& context : contexts) context->TryCancel();
  for (std::thread& t : producers) t.join();
}

TEST_F(PublishStreamTest, AProducerCutOffResendsWhatWasNotAnsweredOnce) {
  constexpr int kMessages = 2'000;
  std::set<int> answered;
  {
    grpc::ClientContext context;
    std::unique_ptr<Stream> stream = stub().PublishStream(&context);
    for (int i = 0; i < kMessages; ++i) {
      ASSERT_TRUE(stream->Write(
          ToUser(absl::StrCat(i), "kim", absl::StrCat("key-", i))));
      pb::PublishStreamResponse answer;
      // Halfway, stop reading and cut the stream: the messages in flight
      // may or may not have committed; their answers are lost.
      if (i == kMessages / 2) {
        context.TryCancel();
        break;
      }
      if (i % 10 == 9) {
        while (answered.size() < static_cast<size_t>(i - 5) &&
               stream->Read(&answer)) {
          answered.insert(std::stoi(answer.ref()));
        }
      }
    }
    stream->Finish();
  }
  ASSERT_GT(answered.size(), 0u);
  // Again, from what was not answered, with the same keys.
  grpc::ClientContext context;
  std::unique_ptr<Stream> stream = stub().PublishStream(&context);
  int resent = 0;
  for (int i = 0; i < kMessages; ++i) {
    if (answered.count(i)) continue;
    ASSERT_TRUE(
        stream->Write(ToUser(absl::StrCat(i), "kim", absl::StrCat("key-", i))));
    ++resent;
  }
  stream->WritesDone();
  pb::PublishStreamResponse answer;
  int duplicates = 0;
  for (int i = 0; i < resent; ++i) {
    ASSERT_TRUE(stream->Read(&answer));
    ASSERT_EQ(answer.code(), 0u) << answer.message();
    duplicates += answer.notify_user().duplicate();
  }
  EXPECT_TRUE(stream->Finish().ok());
  // Every message stored exactly once; what committed unanswered came
  // back as a duplicate.
  EXPECT_EQ(testing::StoredCount(stub()), static_cast<uint64_t>(kMessages));
  EXPECT_LE(duplicates, kMessages - static_cast<int>(answered.size()));
}

}  // namespace
}  // namespace notifyd
