// Names the calling thread, so top -H, perf and gdb tell notifyd's threads
// apart (store-writer, http-io, ...). Linux keeps at most 15 characters;
// longer names are refused and the thread keeps its old name.
#ifndef NOTIFYD_COMMON_THREAD_NAME_H_
#define NOTIFYD_COMMON_THREAD_NAME_H_

#include <pthread.h>

namespace notifyd {

inline void NameThisThread(const char* name) {
  pthread_setname_np(pthread_self(), name);
}

}  // namespace notifyd

#endif  // NOTIFYD_COMMON_THREAD_NAME_H_
