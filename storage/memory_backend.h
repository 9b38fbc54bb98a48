// The writer's side of the in-memory store (memory_store.h): the
// StoreBackend and WriteTransaction the engine runs batches on. Internal to
// memory_store.cc, which opens stores on it.
#ifndef NOTIFYD_STORAGE_MEMORY_BACKEND_H_
#define NOTIFYD_STORAGE_MEMORY_BACKEND_H_

#include <memory>

#include "storage/memory_store.h"
#include "storage/store_backend.h"

namespace notifyd::storage {

// A backend over `db`: it applies a whole batch under the database's
// exclusive lock, so a batch becomes visible at once, like a commit, and
// undoes a call that fails halfway from a log of what it changed.
std::unique_ptr<StoreBackend> NewMemoryBackend(
    std::shared_ptr<MemoryDatabase> db);

}  // namespace notifyd::storage

#endif  // NOTIFYD_STORAGE_MEMORY_BACKEND_H_
