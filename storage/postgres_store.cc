#include "storage/postgres_store.h"

#include <algorithm>
#include <limits>
#include <optional>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/thread_name.h"
#include "spdlog/spdlog.h"
#include "storage/postgres_connection.h"
#include "storage/postgres_migrations.h"

namespace notifyd::storage {
namespace {

absl::Status Closed() { return absl::UnavailableError("store is closed"); }

// Delivers a failure on a thread of its own: the contract forbids calling
// back on the caller's thread, and the store's threads are gone after Close.
template <typename F>
void CallBackLater(F f) {
  std::thread(std::move(f)).detach();
}

// Ids and bounds arrive as uint64 but PostgreSQL's bigint is int64. Ids
// never exceed int64, so a larger bound means "no bound".
int64_t ClampId(uint64_t id) {
  return static_cast<int64_t>(
      std::min<uint64_t>(id, std::numeric_limits<int64_t>::max()));
}

// The columns every row query selects, in the order RowAt reads them.
std::string Columns(absl::string_view table) {
  return absl::StrCat(table, ".id, ", table, ".channel, ", table, ".event, ",
                      table, ".created_at_ms, ", table, ".read, ", table,
                      ".data");
}

Notification RowAt(const PgResult& r, int row, int first_column = 0) {
  Notification n;
  n.id = static_cast<uint64_t>(r.Int(row, first_column));
  n.channel = r.Bytes(row, first_column + 1);
  n.event = r.Bytes(row, first_column + 2);
  n.created_at_ms = r.Int(row, first_column + 3);
  n.read = r.Bool(row, first_column + 4);
  n.data = r.Bytes(row, first_column + 5);
  return n;
}

std::vector<std::shared_ptr<const Notification>> SharedRows(const PgResult& r,
                                                            int first = 0) {
  std::vector<std::shared_ptr<const Notification>> rows;
  rows.reserve(r.rows());
  for (int i = 0; i < r.rows(); ++i) {
    rows.push_back(std::make_shared<const Notification>(RowAt(r, i, first)));
  }
  return rows;
}

// Whether an error says nothing about the call that met it, so the whole
// batch fails rather than that call alone: the connection is gone
// (08, or no SQLSTATE at all), a deadlock or serialization failure (40),
// the server is out of resources (53), shutting down (57) or broken (58,
// XX).
bool FailsWholeBatch(const absl::Status& status, const PgConnection& db) {
  if (db.Broken() || status.code() == absl::StatusCode::kUnavailable) {
    return true;
  }
  const std::string state = PgSqlState(status);
  if (state.size() < 2) return true;
  for (absl::string_view cls : {"08", "40", "53", "57", "58", "XX"}) {
    if (absl::StartsWith(state, cls)) return true;
  }
  return false;
}

// How often a batch that lost a deadlock or serialization conflict runs
// again before its callers get the error.
constexpr int kMaxConflictRetries = 3;

void RollBack(PgConnection& db) {
  if (db.InTransaction()) db.Exec("ROLLBACK").IgnoreError();
}

}  // namespace

class PostgresStore::WriteOp {
 public:
  virtual ~WriteOp() = default;
  // Whether Run numbers rows, so the batch must lock the id counter.
  virtual bool takes_ids() const = 0;
  // Runs inside the batch transaction; `last_id` is the last id taken so
  // far, which an append that stores a row advances. Runs again in a later
  // try when another call of the batch failed, so it must leave its inputs
  // intact.
  virtual absl::Status Run(PgConnection& db, int64_t& last_id) = 0;
  // After the transaction ended: the last Run's status, or the failure
  // that ended the whole batch.
  virtual void Finish(absl::Status status) = 0;

  absl::Time queued_at() const { return queued_at_; }

 private:
  const absl::Time queued_at_ = absl::Now();
};

class PostgresStore::AppendOp final : public PostgresStore::WriteOp {
 public:
  AppendOp(const PostgresStore* store, AppendRequest request,
           Callback<AppendResult> done)
      : store_(store), request_(std::move(request)), done_(std::move(done)) {}

  bool takes_ids() const override { return true; }

  absl::Status Run(PgConnection& db, int64_t& last_id) override {
    duplicate_.reset();
    created_at_ms_ = store_->NowMs();
    const int64_t id = last_id + 1;
    const AppendRequest& r = request_;
    absl::StatusOr<PgResult> result;
    if (r.idempotency_key.empty()) {
      result = db.Query(
          "INSERT INTO notifications (id, channel, event, created_at_ms, data)"
          " VALUES ($1, $2, $3, $4, $5)",
          {PgParam::Int(id), PgParam::Text(r.channel), PgParam::Text(r.event),
           PgParam::Int(created_at_ms_), PgParam::Bytes(r.data)});
    } else {
      // One round trip: the stored row when the key was seen (the batch
      // holds the counter lock, so no other append can race us to it; a
      // repeat earlier in this batch is seen too), else the INSERT.
      result = db.Query(
          absl::StrCat(
              "WITH existing AS (SELECT ", Columns("n"),
              " FROM notifications n"
              " WHERE n.channel = $2 AND n.idempotency_key = $6),"
              " inserted AS (INSERT INTO notifications"
              " (id, channel, event, created_at_ms, idempotency_key, data)"
              " SELECT $1, $2, $3, $4, $6, $5"
              " WHERE NOT EXISTS (SELECT 1 FROM existing))"
              " SELECT * FROM existing"),
          {PgParam::Int(id), PgParam::Text(r.channel), PgParam::Text(r.event),
           PgParam::Int(created_at_ms_), PgParam::Bytes(r.data),
           PgParam::Text(r.idempotency_key)});
    }
    if (!result.ok()) return result.status();
    if (result->rows() > 0) {
      duplicate_ = RowAt(*result, 0);
      return absl::OkStatus();  // a duplicate takes no id
    }
    id_ = id;
    last_id = id;
    return absl::OkStatus();
  }

  void Finish(absl::Status status) override {
    if (!status.ok()) {
      done_(std::move(status));
    } else if (duplicate_) {
      done_(AppendResult{
          std::make_shared<const Notification>(std::move(*duplicate_)),
          /*duplicate=*/true});
    } else {
      auto n = std::make_shared<Notification>();
      n->id = static_cast<uint64_t>(id_);
      n->channel = std::move(request_.channel);
      n->event = std::move(request_.event);
      n->data = std::move(request_.data);
      n->created_at_ms = created_at_ms_;
      done_(AppendResult{std::move(n), /*duplicate=*/false});
    }
  }

 private:
  const PostgresStore* const store_;
  AppendRequest request_;
  Callback<AppendResult> done_;
  int64_t id_ = 0;
  int64_t created_at_ms_ = 0;
  std::optional<Notification> duplicate_;
};

class PostgresStore::MarkReadOp final : public PostgresStore::WriteOp {
 public:
  MarkReadOp(MarkReadRequest request, Callback<uint64_t> done)
      : request_(std::move(request)), done_(std::move(done)) {}

  bool takes_ids() const override { return false; }

  absl::Status Run(PgConnection& db, int64_t&) override {
    std::vector<int64_t> ids;
    ids.reserve(request_.ids.size());
    for (uint64_t id : request_.ids) ids.push_back(ClampId(id));
    // One statement, so it changes all or nothing. "read = false" keeps an
    // id named twice, or also covered by up_to_id, from counting twice; the
    // channel condition ignores other channels' ids.
    absl::StatusOr<PgResult> result = db.Query(
        "UPDATE notifications SET read = true"
        " WHERE channel = $1 AND read = false"
        " AND (id <= $2 OR id = ANY($3))",
        {PgParam::Text(request_.channel),
         PgParam::Int(ClampId(request_.up_to_id)), PgParam::IntArray(ids)});
    if (!result.ok()) return result.status();
    changed_ = result->AffectedRows();
    return absl::OkStatus();
  }

  void Finish(absl::Status status) override {
    if (status.ok()) {
      done_(changed_);
    } else {
      done_(std::move(status));
    }
  }

 private:
  MarkReadRequest request_;
  Callback<uint64_t> done_;
  uint64_t changed_ = 0;
};

absl::StatusOr<std::unique_ptr<Store>> OpenPostgresStore(
    PostgresStoreOptions options) {
  absl::StatusOr<std::unique_ptr<PostgresStore>> store =
      PostgresStore::Open(std::move(options));
  if (!store.ok()) return store.status();
  return std::unique_ptr<Store>(std::move(*store));
}

absl::StatusOr<std::unique_ptr<PostgresStore>> PostgresStore::Open(
    PostgresStoreOptions options) {
  std::unique_ptr<PostgresStore> store(new PostgresStore(std::move(options)));
  if (absl::Status s = store->Start(); !s.ok()) return s;
  return store;
}

PostgresStore::PostgresStore(PostgresStoreOptions options)
    : options_(std::move(options)) {}

PostgresStore::~PostgresStore() { Close(); }

absl::Status PostgresStore::Start() {
  absl::StatusOr<std::unique_ptr<PgConnection>> db =
      PgConnection::Connect(options_.url);
  if (!db.ok()) return db.status();
  write_db_ = std::move(*db);
  if (absl::Status s = ApplyPostgresMigrations(*write_db_); !s.ok()) {
    return absl::Status(
        s.code(),
        absl::StrCat("store at ", write_db_->description(), ": ", s.message()));
  }
  // An acknowledged append must survive a crash. Stronger settings
  // (remote_apply for synchronous replicas...) are the operator's to keep;
  // only "off", which acknowledges before the WAL is flushed, is overridden.
  absl::StatusOr<PgResult> sync =
      write_db_->Query("SELECT current_setting('synchronous_commit')");
  if (!sync.ok()) return sync.status();
  if (sync->Bytes(0, 0) == "off") {
    spdlog::warn(
        "store: synchronous_commit is off on {}; turning it on for notifyd's "
        "writes, which are acknowledged only once durable",
        write_db_->description());
    // Per transaction, so it holds on a reconnected session too.
    force_synchronous_commit_ = true;
  }
  const int readers = std::max(1, options_.reader_connections);
  for (int i = 0; i < readers; ++i) {
    absl::StatusOr<std::unique_ptr<PgConnection>> reader =
        PgConnection::Connect(options_.url);
    if (!reader.ok()) return reader.status();
    read_dbs_.push_back(std::move(*reader));
  }

  completer_ = std::thread([this] {
    NameThisThread("store-complete");
    CompleterLoop();
  });
  writer_ = std::thread([this] {
    NameThisThread("store-writer");
    WriterLoop();
  });
  for (auto& reader : read_dbs_) {
    readers_.emplace_back([this, conn = reader.get()] {
      NameThisThread("store-reader");
      ReaderLoop(conn);
    });
  }
  if (options_.retention > absl::ZeroDuration() ||
      options_.max_per_channel > 0) {
    pruner_ = std::thread([this] {
      NameThisThread("store-pruner");
      PrunerLoop();
    });
  }
  return absl::OkStatus();
}

void PostgresStore::Close() {
  absl::MutexLock close_lock(&close_mu_);
  if (closed_) return;
  closed_ = true;

  {
    absl::MutexLock lock(&stop_mu_);
    stopping_ = true;
  }
  if (pruner_.joinable()) pruner_.join();
  {
    absl::MutexLock lock(&prune_mu_);
    prune_closed_ = true;
    prune_db_.reset();
  }
  // Each stage drains what the one before it handed over, in order.
  write_queue_.Close();
  if (writer_.joinable()) writer_.join();
  complete_queue_.Close();
  if (completer_.joinable()) completer_.join();
  read_queue_.Close();
  for (std::thread& reader : readers_) reader.join();
  readers_.clear();
  read_dbs_.clear();
  write_db_.reset();
}

int64_t PostgresStore::NowMs() const {
  return options_.now_ms ? options_.now_ms() : absl::ToUnixMillis(absl::Now());
}

void PostgresStore::SubmitWrite(std::unique_ptr<WriteOp> op) {
  if (write_queue_.Push(op)) return;
  CallBackLater([op = std::move(op)] { op->Finish(Closed()); });
}

template <typename T, typename Fn>
void PostgresStore::SubmitRead(Fn fn, Callback<T> done) {
  ReadTask task = [fn = std::move(fn), done](PgConnection& db) mutable {
    auto result = fn(db);
    // Reads change nothing, so one that met a dropped connection (a server
    // restart, a failover) simply runs again on a new one.
    if (!result.ok() && db.Broken() && db.EnsureOpen().ok()) result = fn(db);
    done(std::move(result));
  };
  if (read_queue_.Push(task)) return;
  CallBackLater([done = std::move(done)] { done(Closed()); });
}

void PostgresStore::WriterLoop() {
  const size_t max_batch = std::max<size_t>(1, options_.max_batch);
  std::vector<std::unique_ptr<WriteOp>> batch;
  // Returns false once closed and drained: everything queued before Close()
  // has run. Calls that arrive during a commit wait for it and then share
  // the next one.
  while (write_queue_.PopUpTo(max_batch, batch)) {
    Completed done = CommitBatch(std::move(batch));
    batch.clear();
    complete_queue_.Push(done);
  }
}

void PostgresStore::CompleterLoop() {
  std::vector<Completed> ready;
  while (complete_queue_.PopUpTo(std::numeric_limits<size_t>::max(), ready)) {
    for (Completed& done : ready) {
      for (size_t i = 0; i < done.ops.size(); ++i) {
        done.ops[i]->Finish(std::move(done.results[i]));
      }
    }
    ready.clear();
  }
}

PostgresStore::Completed PostgresStore::CommitBatch(
    std::vector<std::unique_ptr<WriteOp>> batch) {
  PgConnection& db = *write_db_;
  const absl::Time start = absl::Now();
  std::vector<absl::Status> results(batch.size());
  // The calls still to commit, and where each sits in `batch`.
  std::vector<WriteOp*> pending;
  std::vector<size_t> position;
  for (size_t i = 0; i < batch.size(); ++i) {
    pending.push_back(batch[i].get());
    position.push_back(i);
  }
  bool committed = false;
  bool reconnected = false;
  int conflicts = 0;
  // Each retry drops one call, or is the one reconnection or one of
  // kMaxConflictRetries, so this ends.
  while (!pending.empty()) {
    size_t failed = pending.size();
    bool commit_sent = false;
    absl::Status status = db.EnsureOpen();
    if (status.ok()) status = TryCommit(pending, &failed, &commit_sent);
    if (status.ok()) {
      committed = true;
      break;
    }
    // The connection dropped before COMMIT, so nothing was stored: try
    // once more on a new one, and the callers never notice. Likewise when
    // the server chose this transaction as a deadlock victim (against
    // another instance, or this one's pruner): it was rolled back whole.
    if (!commit_sent && db.Broken() && !reconnected) {
      reconnected = true;
      continue;
    }
    if (!commit_sent && !db.Broken() &&
        absl::StartsWith(PgSqlState(status), "40") &&
        conflicts < kMaxConflictRetries) {
      ++conflicts;
      continue;
    }
    if (db.Broken() && commit_sent) {
      status = absl::UnavailableError(absl::StrCat(
          status.message(),
          " (the connection was lost during COMMIT: the calls may or may "
          "not be stored)"));
    }
    if (failed == pending.size()) {
      spdlog::error("store: commit of {} calls failed: {}", pending.size(),
                    status.ToString());
      for (size_t p : position) results[p] = status;
      break;
    }
    // Only that call fails; the others go again without it.
    results[position[failed]] = std::move(status);
    pending.erase(pending.begin() + failed);
    position.erase(position.begin() + failed);
  }
  if (committed && options_.on_commit) {
    options_.on_commit(CommitStats{
        .commit_seconds = absl::ToDoubleSeconds(absl::Now() - start),
        .calls = batch.size(),
        .queued_seconds =
            absl::ToDoubleSeconds(start - batch.front()->queued_at())});
  }
  return Completed{.ops = std::move(batch), .results = std::move(results)};
}

absl::Status PostgresStore::TryCommit(const std::vector<WriteOp*>& ops,
                                      size_t* failed, bool* commit_sent) {
  PgConnection& db = *write_db_;
  if (absl::Status s = db.Exec(force_synchronous_commit_
                                   ? "BEGIN; SET LOCAL synchronous_commit = on"
                                   : "BEGIN");
      !s.ok()) {
    RollBack(db);
    return s;
  }
  const bool takes_ids = std::any_of(
      ops.begin(), ops.end(), [](WriteOp* op) { return op->takes_ids(); });
  int64_t first_id = 0;
  if (takes_ids) {
    // Held until COMMIT: another instance's appends wait here, so they get
    // later ids and commit after us.
    absl::StatusOr<PgResult> counter =
        db.Query("SELECT last_id FROM notify_id_counter FOR UPDATE");
    if (!counter.ok() || counter->rows() != 1) {
      RollBack(db);
      return counter.ok()
                 ? absl::InternalError("store: notify_id_counter has no row")
                 : counter.status();
    }
    first_id = counter->Int(0, 0);
  }
  int64_t last_id = first_id;
  for (size_t i = 0; i < ops.size(); ++i) {
    if (absl::Status s = ops[i]->Run(db, last_id); !s.ok()) {
      if (!FailsWholeBatch(s, db)) *failed = i;
      RollBack(db);
      return s;
    }
  }
  if (last_id != first_id) {
    absl::StatusOr<PgResult> update = db.Query(
        "UPDATE notify_id_counter SET last_id = $1", {PgParam::Int(last_id)});
    if (!update.ok()) {
      RollBack(db);
      return update.status();
    }
  }
  if (takes_ids && options_.before_commit) options_.before_commit();
  // The batch never runs COMMIT on a failed transaction (which PostgreSQL
  // would answer with a silent ROLLBACK), so an OK here means committed,
  // and with synchronous_commit on, flushed.
  *commit_sent = true;
  if (absl::Status s = db.Exec("COMMIT"); !s.ok()) {
    RollBack(db);
    return s;
  }
  return absl::OkStatus();
}

void PostgresStore::ReaderLoop(PgConnection* db) {
  std::vector<ReadTask> tasks;
  while (read_queue_.PopUpTo(1, tasks)) {
    // After a lost connection the task's query reports the failure.
    db->EnsureOpen().IgnoreError();
    tasks.front()(*db);
    tasks.clear();
  }
}

void PostgresStore::Append(AppendRequest request, Callback<AppendResult> done) {
  SubmitWrite(
      std::make_unique<AppendOp>(this, std::move(request), std::move(done)));
}

void PostgresStore::MarkRead(MarkReadRequest request, Callback<uint64_t> done) {
  SubmitWrite(
      std::make_unique<MarkReadOp>(std::move(request), std::move(done)));
}

void PostgresStore::List(ListQuery query,
                         Callback<std::vector<Notification>> done) {
  SubmitRead<std::vector<Notification>>(
      [query = std::move(query)](
          PgConnection& db) -> absl::StatusOr<std::vector<Notification>> {
        // A channel's unread and read rows are two ranges of the index, each
        // in id order: read both (bounded by the limit) and merge, in one
        // statement and so one snapshot.
        auto range = [](absl::string_view read) {
          return absl::StrCat("(SELECT ", Columns("n"),
                              " FROM notifications n WHERE n.channel = $1"
                              " AND n.read = ",
                              read,
                              " AND n.id < $2 ORDER BY n.id DESC LIMIT $3)");
        };
        std::string sql = absl::StrCat("SELECT * FROM (", range("false"),
                                       query.unread_only ? "" : " UNION ALL ",
                                       query.unread_only ? "" : range("true"),
                                       ") AS page ORDER BY id DESC LIMIT $3");
        const uint64_t before = query.before_id == 0
                                    ? std::numeric_limits<uint64_t>::max()
                                    : query.before_id;
        absl::StatusOr<PgResult> r = db.Query(
            sql, {PgParam::Text(query.channel), PgParam::Int(ClampId(before)),
                  PgParam::Int(query.limit)});
        if (!r.ok()) return r.status();
        std::vector<Notification> rows;
        rows.reserve(r->rows());
        for (int i = 0; i < r->rows(); ++i) rows.push_back(RowAt(*r, i));
        return rows;
      },
      std::move(done));
}

void PostgresStore::Replay(ReplayQuery query, Callback<ReplayPage> done) {
  if (query.channels.size() > kMaxReplayChannels) {
    CallBackLater([done = std::move(done)] {
      done(absl::InvalidArgumentError(absl::StrCat(
          "replay takes at most ", kMaxReplayChannels, " channels")));
    });
    return;
  }
  std::sort(query.channels.begin(), query.channels.end());
  query.channels.erase(
      std::unique(query.channels.begin(), query.channels.end()),
      query.channels.end());
  SubmitRead<ReplayPage>(
      [query =
           std::move(query)](PgConnection& db) -> absl::StatusOr<ReplayPage> {
        // One statement, so one snapshot: the page, oldest_id and
        // last_committed_id agree.
        //  - ids: the page's candidates, per channel and read state an
        //    index range bounded by limit + 1 (the extra id tells whether
        //    more follow), merged.
        //  - sized: their running total of data bytes. octet_length() reads
        //    the size from a TOASTed value's header, not the value.
        //  - page: the candidates within the limit and the byte budget (the
        //    first always), the only payloads read.
        // Columns 0-2 are the oldest id, the last committed id and whether
        // more rows follow; a page with no rows still yields one row.
        static const std::string* const sql = new std::string(absl::StrCat(
            "WITH c AS (SELECT unnest($1::text[]) AS channel),"
            " s(read) AS (VALUES (false), (true)),"
            " ids AS (SELECT p.id FROM c CROSS JOIN s CROSS JOIN LATERAL"
            " (SELECT n.id FROM notifications n WHERE n.channel = c.channel"
            " AND n.read = s.read AND n.id > $2 ORDER BY n.id LIMIT $3 + 1)"
            " AS p ORDER BY p.id LIMIT $3 + 1),"
            " sized AS (SELECT ids.id, row_number() OVER w AS rn,"
            " sum(octet_length(n.data)) OVER w AS total"
            " FROM ids JOIN notifications n ON n.id = ids.id"
            " WINDOW w AS (ORDER BY ids.id ROWS UNBOUNDED PRECEDING)),"
            " page AS (SELECT id FROM sized WHERE rn <= $3"
            " AND (rn = 1 OR $4 = 0 OR total <= $4)),"
            " oldest AS (SELECT coalesce(min(f.id), 0) AS id"
            " FROM c CROSS JOIN s CROSS JOIN LATERAL"
            " (SELECT n.id FROM notifications n WHERE n.channel = c.channel"
            " AND n.read = s.read ORDER BY n.id LIMIT 1) AS f)"
            " SELECT oldest.id, (SELECT last_id FROM notify_id_counter),"
            " (SELECT count(*) FROM ids) > (SELECT count(*) FROM page), ",
            Columns("n"),
            " FROM oldest LEFT JOIN (page JOIN notifications n"
            " ON n.id = page.id) ON true ORDER BY n.id"));
        absl::StatusOr<PgResult> r =
            db.Query(*sql, {PgParam::TextArray(query.channels),
                            PgParam::Int(ClampId(query.after_id)),
                            PgParam::Int(query.limit),
                            PgParam::Int(ClampId(query.max_bytes))});
        if (!r.ok()) return r.status();
        ReplayPage page;
        if (r->rows() > 0) {
          page.oldest_id = static_cast<uint64_t>(r->Int(0, 0));
          page.last_committed_id = static_cast<uint64_t>(r->Int(0, 1));
          page.more = r->Bool(0, 2);
        }
        for (int i = 0; i < r->rows(); ++i) {
          if (r->IsNull(i, 3)) continue;  // the empty page's row
          page.notifications.push_back(
              std::make_shared<const Notification>(RowAt(*r, i, 3)));
        }
        return page;
      },
      std::move(done));
}

void PostgresStore::UnreadCount(std::string channel, Callback<uint64_t> done) {
  SubmitRead<uint64_t>(
      [channel =
           std::move(channel)](PgConnection& db) -> absl::StatusOr<uint64_t> {
        absl::StatusOr<PgResult> r = db.Query(
            "SELECT count(*) FROM notifications"
            " WHERE channel = $1 AND read = false",
            {PgParam::Text(channel)});
        if (!r.ok()) return r.status();
        return static_cast<uint64_t>(r->Int(0, 0));
      },
      std::move(done));
}

void PostgresStore::Stats(Callback<StoreStats> done) {
  SubmitRead<StoreStats>(
      [](PgConnection& db) -> absl::StatusOr<StoreStats> {
        // Table, TOASTed payloads and indexes: the disk the store uses.
        absl::StatusOr<PgResult> r = db.Query(
            "SELECT (SELECT count(*) FROM notifications),"
            " pg_total_relation_size('notifications')");
        if (!r.ok()) return r.status();
        return StoreStats{.notifications = static_cast<uint64_t>(r->Int(0, 0)),
                          .bytes = static_cast<uint64_t>(r->Int(0, 1))};
      },
      std::move(done));
}

void PostgresStore::ReadIdRange(
    uint64_t after_id, uint64_t up_to_id, uint32_t limit,
    Callback<std::vector<std::shared_ptr<const Notification>>> done) {
  using Rows = std::vector<std::shared_ptr<const Notification>>;
  SubmitRead<Rows>(
      [after_id, up_to_id, limit](PgConnection& db) -> absl::StatusOr<Rows> {
        absl::StatusOr<PgResult> r =
            db.Query(absl::StrCat("SELECT ", Columns("n"),
                                  " FROM notifications n WHERE n.id > $1"
                                  " AND n.id <= $2 ORDER BY n.id LIMIT $3"),
                     {PgParam::Int(ClampId(after_id)),
                      PgParam::Int(ClampId(up_to_id)), PgParam::Int(limit)});
        if (!r.ok()) return r.status();
        return SharedRows(*r);
      },
      std::move(done));
}

void PostgresStore::LastCommittedId(Callback<uint64_t> done) {
  SubmitRead<uint64_t>(
      [](PgConnection& db) -> absl::StatusOr<uint64_t> {
        // Raised in the same transaction as the rows it numbers, so every
        // id up to the committed value is committed (or was pruned).
        absl::StatusOr<PgResult> r =
            db.Query("SELECT last_id FROM notify_id_counter");
        if (!r.ok()) return r.status();
        if (r->rows() != 1) {
          return absl::InternalError("store: notify_id_counter has no row");
        }
        return static_cast<uint64_t>(r->Int(0, 0));
      },
      std::move(done));
}

void PostgresStore::Ping(Callback<bool> done) {
  SubmitRead<bool>(
      [](PgConnection& db) -> absl::StatusOr<bool> {
        // Touches the table, not just the connection, so a database without
        // the schema (or without our privileges) shows up.
        absl::StatusOr<PgResult> r =
            db.Query("SELECT 1 FROM notifications LIMIT 1");
        if (!r.ok()) return r.status();
        return true;
      },
      std::move(done));
}

bool PostgresStore::Stopping() {
  absl::MutexLock lock(&stop_mu_);
  return stopping_;
}

absl::StatusOr<uint64_t> PostgresStore::PruneNow() {
  absl::MutexLock lock(&prune_mu_);
  return PruneLocked();
}

absl::StatusOr<uint64_t> PostgresStore::PruneLocked() {
  if (prune_closed_) return Closed();
  if (options_.retention <= absl::ZeroDuration() &&
      options_.max_per_channel == 0) {
    return 0;
  }
  if (prune_db_ == nullptr) {
    absl::StatusOr<std::unique_ptr<PgConnection>> db =
        PgConnection::Connect(options_.url);
    if (!db.ok()) return db.status();
    prune_db_ = std::move(*db);
  }
  PgConnection& db = *prune_db_;
  if (absl::Status s = db.EnsureOpen(); !s.ok()) return s;
  // Every DELETE below is a transaction of its own, at most `batch` rows,
  // so a prune never holds many row locks for long; none touches the id
  // counter, which keeps deleted ids from being handed out again.
  const int64_t batch = std::max(1, options_.prune_batch);
  uint64_t deleted = 0;

  if (options_.retention > absl::ZeroDuration()) {
    const int64_t cutoff =
        NowMs() - absl::ToInt64Milliseconds(options_.retention);
    // The oldest rows in id order while they were created before the
    // cut-off: it stops at the first newer row, so after the clock was
    // stepped back no row is deleted before it is old enough.
    for (;;) {
      absl::StatusOr<PgResult> r = db.Query(
          "WITH oldest AS (SELECT id, created_at_ms FROM notifications"
          " ORDER BY id LIMIT $2),"
          " stop AS (SELECT min(id) AS id FROM oldest"
          " WHERE created_at_ms >= $1)"
          " DELETE FROM notifications WHERE id IN (SELECT id FROM oldest"
          " WHERE id < coalesce((SELECT id FROM stop),"
          " 9223372036854775807))",
          {PgParam::Int(cutoff), PgParam::Int(batch)});
      if (!r.ok()) return r.status();
      deleted += r->AffectedRows();
      if (r->AffectedRows() < static_cast<uint64_t>(batch) || Stopping()) {
        break;
      }
    }
  }

  if (options_.max_per_channel > 0) {
    const int64_t keep = ClampId(options_.max_per_channel);
    absl::StatusOr<PgResult> over = db.Query(
        "SELECT channel FROM notifications GROUP BY channel"
        " HAVING count(*) > $1",
        {PgParam::Int(keep)});
    if (!over.ok()) return over.status();
    for (int i = 0; i < over->rows(); ++i) {
      const std::string channel = over->Bytes(i, 0);
      // The newest id that may go so that `keep` rows remain. New rows only
      // get larger ids, so a cut taken now still leaves at least `keep`.
      absl::StatusOr<PgResult> cut = db.Query(
          "SELECT id FROM ("
          "(SELECT id FROM notifications WHERE channel = $1 AND read = false"
          " ORDER BY id DESC LIMIT $2) UNION ALL"
          " (SELECT id FROM notifications WHERE channel = $1 AND read = true"
          " ORDER BY id DESC LIMIT $2)) AS newest"
          " ORDER BY id DESC OFFSET $3 LIMIT 1",
          {PgParam::Text(channel), PgParam::Int(keep + 1), PgParam::Int(keep)});
      if (!cut.ok()) return cut.status();
      if (cut->rows() == 0) continue;
      const int64_t cut_id = cut->Int(0, 0);
      for (;;) {
        if (Stopping()) return deleted;
        // "read IN" lets the index seek to the id bound in both ranges.
        absl::StatusOr<PgResult> r = db.Query(
            "DELETE FROM notifications WHERE id IN (SELECT id"
            " FROM notifications WHERE channel = $1 AND read IN (false, true)"
            " AND id <= $2 LIMIT $3)",
            {PgParam::Text(channel), PgParam::Int(cut_id),
             PgParam::Int(batch)});
        if (!r.ok()) return r.status();
        deleted += r->AffectedRows();
        if (r->AffectedRows() < static_cast<uint64_t>(batch)) break;
      }
    }
  }
  return deleted;
}

void PostgresStore::PrunerLoop() {
  for (;;) {
    {
      absl::MutexLock lock(&stop_mu_);
      stop_mu_.AwaitWithTimeout(absl::Condition(&stopping_),
                                options_.prune_interval);
      if (stopping_) return;
    }
    absl::MutexLock lock(&prune_mu_);
    absl::StatusOr<uint64_t> deleted = PruneLocked();
    if (!deleted.ok()) {
      spdlog::warn("store: retention pass failed: {}",
                   deleted.status().ToString());
    } else if (*deleted > 0) {
      spdlog::info("store: retention removed {} notifications", *deleted);
    }
  }
}

}  // namespace notifyd::storage
