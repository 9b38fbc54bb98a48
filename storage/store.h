// The durable store of notifications: the seam between notifyd and its
// database (SQLite, or PostgreSQL for several instances). Knows nothing of
// gRPC or HTTP.
//
// Contract shared by every implementation:
//  - Ids are global and strictly increasing; a deleted id is never reused.
//    They are assigned in commit order, also across several processes
//    sharing one database, and without holes: a failed append takes no id.
//  - Append acknowledges (calls `done`) only after the row is durable.
//  - Every asynchronous call invokes `done` exactly once, on a thread the
//    store owns, never on the caller's thread; callers must not block in it
//    for long, since it delays other callers of the same store thread.
//  - Append callbacks run in commit order, one at a time, so a callback that
//    publishes sees notifications in id order.
//  - Implementations are thread-safe. Close() (or destruction) finishes the
//    calls already queued; calls made after it fail with UNAVAILABLE.
//  - The limits below hold for every implementation: a call over one fails
//    with INVALID_ARGUMENT and touches nothing (docs/DESIGN.md, Limits).
#ifndef NOTIFYD_STORAGE_STORE_H_
#define NOTIFYD_STORAGE_STORE_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "storage/notification.h"
#include "storage/push.h"

namespace notifyd::storage {

// Most channels one Replay takes (counted as given, repeats included). Whoever
// lets users choose channels must stay within it: an SSE stream replays its
// --max_channels_per_stream channels plus the user's own.
inline constexpr size_t kMaxReplayChannels = 64;

// Most rows one call asks for: ListQuery::limit, ReplayQuery::limit and
// ReadIdRange's `limit`. Above every page size notifyd uses (500).
inline constexpr uint32_t kMaxPageRows = 1000;

// Most ids one StateChange or DeleteRequest names.
inline constexpr size_t kMaxChangeIds = 1000;

// Longest collapse key, in bytes.
inline constexpr size_t kMaxCollapseKeyBytes = 128;
// Most notifications one AppendMany stores (NotifyUsers' user limit).
inline constexpr size_t kMaxAppendMany = 10'000;

// The store enforces no payload size: `data` is bounded by whoever accepts
// it (--max_payload_bytes), and a replay page by ReplayQuery::max_bytes.

struct AppendRequest {
  std::string channel;
  std::string event;
  std::string data;
  std::string idempotency_key;  // empty: none
  // Unix milliseconds after which the notification is gone; 0 = never. The
  // store takes any value: whoever accepts it checks that it lies ahead.
  int64_t expires_at_ms = 0;
  // Non-empty: the notification replaces (deletes) every older one with the
  // same key on its channel, in the same commit. At most
  // kMaxCollapseKeyBytes.
  std::string collapse_key;
  // Not stored: copied to the returned notification and to the record of
  // what its collapse key replaced (Notification::trace_id).
  std::string trace_id;
};

struct AppendResult {
  // Shared and immutable so the bus and every subscriber can hold it.
  std::shared_ptr<const Notification> notification;
  // True when (channel, idempotency_key) was already stored: `notification`
  // is the original and nothing was written.
  bool duplicate = false;
  // When the collapse key replaced older notifications of an inbox: the
  // deletion record committed just before `notification` (id one less).
  // Null otherwise. Publish it first.
  std::shared_ptr<const Notification> replaced;
};

// Which notifications of a channel a listing shows. Records never show.
enum class ListFilter {
  kInbox,     // not archived (a named channel: everything)
  kUnread,    // neither read nor archived
  kUnseen,    // not seen, archived or not
  kArchived,  // archived
};

struct ListQuery {
  std::string channel;
  uint64_t before_id = 0;  // 0: start from the newest
  uint32_t limit = 50;
  ListFilter filter = ListFilter::kInbox;
};

struct ReplayQuery {
  std::vector<std::string> channels;
  uint64_t after_id = 0;  // ids strictly greater than this
  uint32_t limit = 500;
  // Budget of the page in bytes of `data`: the page stops before the row
  // that would take the sum of its rows' `data` sizes over max_bytes, but
  // always holds at least one row (when one matches and limit > 0), so
  // paging always makes progress. Payloads past the page are not read (at
  // most the one that did not fit): a page costs about its own size, however
  // much history follows it. 0 = no byte limit.
  uint64_t max_bytes = 0;
  // An inbox whose counts the page also reports (ReplayPage::counts); empty:
  // none. What a stream of the user starts with.
  std::string counts_channel;
};

struct ReplayPage {
  // Ascending by id, at most `limit` entries and within `max_bytes`.
  std::vector<std::shared_ptr<const Notification>> notifications;
  // True when more rows match the query than the page holds (it stopped at
  // `limit` or `max_bytes`): the next page starts after its last id. False
  // when the page reaches the newest matching row of its snapshot.
  bool more = false;
  // Smallest id still held on the queried channels, 0 when they are empty.
  // A resume from an id below oldest_id - 1 may have lost events.
  uint64_t oldest_id = 0;
  // What LastCommittedId() answers, read in the page's snapshot: the
  // largest id committed on any channel, 0 when none was. A resume from an
  // id above it cannot come from this store's history.
  uint64_t last_committed_id = 0;
  // The counts of query.counts_channel, read right after the page: they
  // include every change up to last_committed_id, maybe a few after it.
  std::optional<Counts> counts;
};

// A change of per-user state on the notifications of one inbox: those
// named by `ids` and, when up_to_id > 0, every one with an id up to it.
// At least one flag is given; `read: true` also sets `seen`.
struct StateChange {
  std::string channel;
  std::vector<uint64_t> ids;  // at most kMaxChangeIds
  uint64_t up_to_id = 0;      // 0: none
  bool seen = false;          // true: set seen (it is never unset)
  std::optional<bool> read;
  std::optional<bool> archived;
  std::string trace_id;  // not stored: copied to the record
};

struct MarkReadRequest {
  std::string channel;
  std::vector<uint64_t> ids;
  uint64_t up_to_id = 0;  // 0: none
};

// Deletes notifications of one channel: those named by `ids` and, when
// collapse_key is not empty, every one with that key.
struct DeleteRequest {
  std::string channel;
  std::vector<uint64_t> ids;  // at most kMaxChangeIds
  std::string collapse_key;
  std::string trace_id;  // not stored: copied to the record
};

// What a state change or a delete did.
struct ChangeResult {
  // Notifications whose state changed (or that were deleted).
  uint64_t changed = 0;
  // The record committed for it in the channel's stream (an inbox only, and
  // only when something changed): publish it like a notification.
  std::shared_ptr<const Notification> record;
  // The channel's counts after the change (an inbox only).
  Counts counts;
};

struct StoreStats {
  uint64_t notifications = 0;
  uint64_t bytes = 0;
};

// What one group commit cost, for metrics and tests.
struct CommitStats {
  // BEGIN to the end of COMMIT, the sync included.
  double commit_seconds = 0;
  // Write calls it carried (appends, MarkRead, retention batches).
  size_t calls = 0;
  // How long its oldest call waited in the queue before BEGIN: behind the
  // previous commit, and for company (commit_delay). Grows without bound
  // when calls arrive faster than the writer commits them.
  double queued_seconds = 0;
};

template <typename T>
using Callback = std::function<void(absl::StatusOr<T>)>;

class Store {
 public:
  virtual ~Store() = default;

  // Stores one notification. Concurrent appends may share one commit.
  // Fails with INTERNAL/UNAVAILABLE when the database refuses the write;
  // nothing partial is ever visible.
  virtual void Append(AppendRequest request, Callback<AppendResult> done) = 0;

  // Stores every request as Append would, all in one commit or none: each
  // its own id, in the order given (ids ascending with the requests), all
  // stamped with the same time; a request whose (channel, idempotency_key)
  // is stored already, or came earlier in the same call, is a duplicate
  // and stores nothing. `done` gets one result per request, in order. An
  // empty call, more than kMaxAppendMany requests or a collapse key over
  // kMaxCollapseKeyBytes fail with INVALID_ARGUMENT, storing nothing; a
  // database failure fails the whole call and leaves nothing behind.
  virtual void AppendMany(std::vector<AppendRequest> requests,
                          Callback<std::vector<AppendResult>> done) = 0;

  // Notifications (never records) of query.filter, newest first, ids <
  // before_id; expired ones are left out. A limit above kMaxPageRows fails
  // with INVALID_ARGUMENT.
  virtual void List(ListQuery query,
                    Callback<std::vector<Notification>> done) = 0;

  // One page of the rows with ids > after_id on any of the channels, oldest
  // first, sized by `limit` and `max_bytes` (see ReplayQuery and
  // ReplayPage): notifications (expired ones left out) and records. The
  // page, oldest_id and last_committed_id come from one snapshot. A limit
  // of 0 reads no rows: only oldest_id, last_committed_id and counts. More than
  // kMaxReplayChannels channels, or a limit above kMaxPageRows, fail with
  // INVALID_ARGUMENT.
  virtual void Replay(ReplayQuery query, Callback<ReplayPage> done) = 0;

  // Changes per-user state in an inbox (storage/inbox.h) and, when anything
  // changed, commits a state record with the counts after it, all in one
  // commit. Ids of other channels, records and unknown ids change nothing.
  // Fails with INVALID_ARGUMENT for a channel that is not an inbox, no flag,
  // no ids and no up_to_id, or more than kMaxChangeIds ids.
  virtual void ChangeState(StateChange change, Callback<ChangeResult> done) = 0;

  // Deletes notifications (never records) and, in an inbox, commits a
  // deletion record with the counts after it, all in one commit; the ids
  // stay taken. Fails with INVALID_ARGUMENT for no ids and no key, more than
  // kMaxChangeIds ids or a key over kMaxCollapseKeyBytes.
  virtual void Delete(DeleteRequest request, Callback<ChangeResult> done) = 0;

  // An inbox's counts, read from what the writes keep up to date (not
  // counted): the same cost for ten notifications or ten million. Expired
  // notifications not yet removed are left out. Zero for other channels.
  virtual void GetCounts(std::string channel, Callback<Counts> done) = 0;

  // --- Web Push (storage/push.h). Each fails with INVALID_ARGUMENT, touching
  // nothing, for what Check* there refuses.

  // Stores `subscription` (created_at_ms is set to now), replacing whatever
  // its endpoint held, another user's included. Fails with
  // RESOURCE_EXHAUSTED, storing nothing, when the endpoint is new to the
  // user and they already have StoreOptions::max_push_subscriptions.
  virtual void PutPushSubscription(PushSubscription subscription,
                                   Callback<PushPutResult> done) = 0;

  // Removes the subscription of removal.endpoint (only if it is
  // removal.channel's, when that is given); answers whether one was.
  virtual void RemovePushSubscription(PushRemoval removal,
                                      Callback<bool> done) = 0;

  // The subscriptions of inbox `channel`, oldest first; at most
  // max_push_subscriptions (more only if the option was lowered since).
  virtual void ListPushSubscriptions(
      std::string channel, Callback<std::vector<PushSubscription>> done) = 0;

  // The subscription whose secret_sha256 this is; NOT_FOUND when none.
  virtual void FindPushSubscription(std::string secret_sha256,
                                    Callback<PushSubscription> done) = 0;

  // Records the notifications `ids` as pushed, now, so that PushCandidates
  // leaves them out from then on; answers how many were not recorded yet.
  // Records, notifications of named channels and unknown ids are skipped.
  // The record goes with its notification (deleted, expired, pruned).
  virtual void MarkPushed(std::vector<uint64_t> ids,
                          Callback<uint64_t> done) = 0;

  // The notifications PushCandidatesQuery describes, ascending by id. It
  // walks the ids above query.after_id: a caller that keeps its place
  // there reads only what is new since its last call.
  virtual void PushCandidates(
      PushCandidatesQuery query,
      Callback<std::vector<std::shared_ptr<const Notification>>> done) = 0;

  // ChangeState(read: true) answering how many went from unread to read.
  void MarkRead(MarkReadRequest request, Callback<uint64_t> done);

  // GetCounts answering the unread count.
  void UnreadCount(std::string channel, Callback<uint64_t> done);

  virtual void Stats(Callback<StoreStats> done) = 0;

  // Up to `limit` notifications with after_id < id <= up_to_id, on every
  // channel, ascending by id. What a bus shared by several instances reads
  // to fill a gap in the ids it received (see bus/redis_bus.h). A limit
  // above kMaxPageRows fails with INVALID_ARGUMENT.
  virtual void ReadIdRange(
      uint64_t after_id, uint64_t up_to_id, uint32_t limit,
      Callback<std::vector<std::shared_ptr<const Notification>>> done) = 0;

  // The largest id committed so far, 0 when none was: every notification
  // with a smaller or equal id is already durable (or was deleted).
  virtual void LastCommittedId(Callback<uint64_t> done) = 0;

  // Cheap liveness probe for /readyz: OK when the database answers.
  virtual void Ping(Callback<bool> done) = 0;

  // Stops accepting calls, finishes queued work, closes the database.
  // Idempotent; blocks until done.
  virtual void Close() = 0;
};

// Blocking helpers for tests and tools: wait for the callback. Never call
// these from a store thread.
absl::StatusOr<AppendResult> AppendSync(Store& store, AppendRequest request);
absl::StatusOr<std::vector<AppendResult>> AppendManySync(
    Store& store, std::vector<AppendRequest> requests);
absl::StatusOr<std::vector<Notification>> ListSync(Store& store,
                                                   ListQuery query);
absl::StatusOr<ReplayPage> ReplaySync(Store& store, ReplayQuery query);
absl::StatusOr<uint64_t> MarkReadSync(Store& store, MarkReadRequest request);
absl::StatusOr<ChangeResult> ChangeStateSync(Store& store, StateChange change);
absl::StatusOr<ChangeResult> DeleteSync(Store& store, DeleteRequest request);
absl::StatusOr<Counts> GetCountsSync(Store& store, std::string channel);
absl::StatusOr<uint64_t> UnreadCountSync(Store& store, std::string channel);
absl::StatusOr<StoreStats> StatsSync(Store& store);
absl::StatusOr<std::vector<std::shared_ptr<const Notification>>>
ReadIdRangeSync(Store& store, uint64_t after_id, uint64_t up_to_id,
                uint32_t limit);
absl::StatusOr<uint64_t> LastCommittedIdSync(Store& store);
absl::StatusOr<PushPutResult> PutPushSubscriptionSync(
    Store& store, PushSubscription subscription);
absl::StatusOr<bool> RemovePushSubscriptionSync(Store& store,
                                                PushRemoval removal);
absl::StatusOr<std::vector<PushSubscription>> ListPushSubscriptionsSync(
    Store& store, std::string channel);
absl::StatusOr<PushSubscription> FindPushSubscriptionSync(
    Store& store, std::string secret_sha256);
absl::StatusOr<uint64_t> MarkPushedSync(Store& store,
                                        std::vector<uint64_t> ids);
absl::StatusOr<std::vector<std::shared_ptr<const Notification>>>
PushCandidatesSync(Store& store, PushCandidatesQuery query);

}  // namespace notifyd::storage

#endif  // NOTIFYD_STORAGE_STORE_H_
