// The Web Push writes of the store engine (store_engine.h) as write
// operations (store_backend.h, WriteOp) on the primitives of
// WriteTransaction: written once for every database, so the per-user limit
// and the pushed marks (push.h) hold the same way on SQLite, PostgreSQL and
// memory (docs/DESIGN.md, Web Push).
//
// Each operation runs on the writer thread inside a batch (Run, possibly
// again when the backend retries the batch) and answers its caller on the
// completer thread once the batch is committed or lost (Finish). A refusal
// (the limit) is an answer, not a failed Run: it writes nothing and leaves
// the other calls of the batch alone.
#ifndef NOTIFYD_STORAGE_PUSH_OPS_H_
#define NOTIFYD_STORAGE_PUSH_OPS_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "storage/push.h"
#include "storage/store.h"
#include "storage/store_backend.h"
#include "storage/store_options.h"

namespace notifyd::storage {

// Store::PutPushSubscription, validated by the caller
// (CheckPushSubscription), within options.max_push_subscriptions.
std::unique_ptr<WriteOp> MakePutPushSubscriptionOp(
    const StoreOptions& options, PushSubscription subscription,
    Callback<PushPutResult> done);

// Store::RemovePushSubscription, validated by the caller.
std::unique_ptr<WriteOp> MakeRemovePushSubscriptionOp(PushRemoval removal,
                                                      Callback<bool> done);

// Store::MarkPushed, validated by the caller (CheckMarkPushed).
std::unique_ptr<WriteOp> MakeMarkPushedOp(const StoreOptions& options,
                                          std::vector<uint64_t> ids,
                                          Callback<uint64_t> done);

}  // namespace notifyd::storage

#endif  // NOTIFYD_STORAGE_PUSH_OPS_H_
