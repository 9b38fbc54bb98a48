#include "storage/push_ops.h"

#include <optional>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"

namespace notifyd::storage {
namespace {

// An operation whose work is `fn(txn, answer)`: a failure it returns (the
// database's) fails the call as the backend decides; what it puts in
// `answer`, a refusal included, is the call's answer once the batch is
// committed.
template <typename T, typename Fn>
class AnswerOp final : public WriteOp {
 public:
  AnswerOp(Fn fn, Callback<T> done)
      : WriteOp(Kind::kChange), fn_(std::move(fn)), done_(std::move(done)) {}

  absl::Status Run(WriteTransaction& txn) override {
    answer_ = absl::UnknownError("not answered");
    return fn_(txn, answer_);
  }

 private:
  void Finish(absl::Status status) override {
    if (!status.ok()) return done_(std::move(status));
    done_(std::move(answer_));
  }

  Fn fn_;
  Callback<T> done_;
  absl::StatusOr<T> answer_ = absl::UnknownError("not run");
};

template <typename T, typename Fn>
std::unique_ptr<WriteOp> MakeAnswerOp(Fn fn, Callback<T> done) {
  return std::make_unique<AnswerOp<T, Fn>>(std::move(fn), std::move(done));
}

}  // namespace

std::unique_ptr<WriteOp> MakePutPushSubscriptionOp(
    const StoreOptions& options, PushSubscription subscription,
    Callback<PushPutResult> done) {
  auto put = [&options, subscription = std::move(subscription)](
                 WriteTransaction& txn,
                 absl::StatusOr<PushPutResult>& answer) mutable {
    absl::StatusOr<std::optional<PushSubscription>> held =
        txn.FindPushEndpoint(subscription.endpoint);
    if (!held.ok()) return held.status();
    const bool own =
        held->has_value() && (*held)->channel == subscription.channel;
    if (!own) {
      absl::StatusOr<uint64_t> count =
          txn.CountPushSubscriptions(subscription.channel);
      if (!count.ok()) return count.status();
      if (*count >= options.max_push_subscriptions) {
        answer = absl::ResourceExhaustedError(
            absl::StrCat("a user has at most ", options.max_push_subscriptions,
                         " push subscriptions; remove one first"));
        return absl::OkStatus();
      }
    }
    subscription.created_at_ms = options.NowMs();
    if (absl::Status s = txn.UpsertPushSubscription(subscription); !s.ok()) {
      return s;
    }
    answer = PushPutResult{.created = !own};
    return absl::OkStatus();
  };
  return MakeAnswerOp<PushPutResult>(std::move(put), std::move(done));
}

std::unique_ptr<WriteOp> MakeRemovePushSubscriptionOp(PushRemoval removal,
                                                      Callback<bool> done) {
  auto remove = [removal = std::move(removal)](WriteTransaction& txn,
                                               absl::StatusOr<bool>& answer) {
    answer = txn.DeletePushSubscription(removal.endpoint, removal.channel);
    return answer.status();
  };
  return MakeAnswerOp<bool>(std::move(remove), std::move(done));
}

std::unique_ptr<WriteOp> MakeMarkPushedOp(const StoreOptions& options,
                                          std::vector<uint64_t> ids,
                                          Callback<uint64_t> done) {
  auto mark = [&options, ids = std::move(ids)](
                  WriteTransaction& txn, absl::StatusOr<uint64_t>& answer) {
    answer = txn.InsertPushed(ids, options.NowMs());
    return answer.status();
  };
  return MakeAnswerOp<uint64_t>(std::move(mark), std::move(done));
}

}  // namespace notifyd::storage
