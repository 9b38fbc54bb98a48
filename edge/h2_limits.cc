#include "edge/h2_limits.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <iterator>

namespace notifyd::edge {
namespace {

// nghttp2's memory: small blocks from malloc, large ones (its 16 KiB frame
// buffer, one per session, of which the server's small frames use the
// first page: DATA is sent without copying) mapped, so their untouched
// pages take no memory. Each block starts with its size.
constexpr size_t kHeaderBytes = 16;  // keeps malloc's alignment
constexpr size_t kMapAtLeast = 8 * 1024;

void* Allocate(size_t size) {
  size_t total = size + kHeaderBytes;
  void* block = nullptr;
  if (total >= kMapAtLeast) {
    block = mmap(nullptr, total, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (block == MAP_FAILED) return nullptr;
  } else {
    block = std::malloc(total);
    if (block == nullptr) return nullptr;
  }
  std::memcpy(block, &size, sizeof(size));
  return static_cast<char*>(block) + kHeaderBytes;
}

size_t SizeOf(void* ptr) {
  size_t size;
  std::memcpy(&size, static_cast<char*>(ptr) - kHeaderBytes, sizeof(size));
  return size;
}

void Release(void* ptr) {
  if (ptr == nullptr) return;
  char* block = static_cast<char*>(ptr) - kHeaderBytes;
  size_t total = SizeOf(ptr) + kHeaderBytes;
  if (total >= kMapAtLeast) {
    munmap(block, total);
  } else {
    std::free(block);
  }
}

void* Malloc(size_t size, void*) { return Allocate(size); }
void Free(void* ptr, void*) { Release(ptr); }
void* Calloc(size_t n, size_t size, void*) {
  if (size != 0 && n > SIZE_MAX / size) return nullptr;
  void* ptr = Allocate(n * size);
  if (ptr != nullptr && n * size + kHeaderBytes < kMapAtLeast) {
    std::memset(ptr, 0, n * size);  // mapped pages are zero already
  }
  return ptr;
}
void* Realloc(void* ptr, size_t size, void*) {
  if (ptr == nullptr) return Allocate(size);
  if (size == 0) {
    Release(ptr);
    return nullptr;
  }
  void* moved = Allocate(size);
  if (moved == nullptr) return nullptr;
  std::memcpy(moved, ptr, std::min(size, SizeOf(ptr)));
  Release(ptr);
  return moved;
}

nghttp2_mem kMemory = {nullptr, &Malloc, &Free, &Calloc, &Realloc};

}  // namespace

nghttp2_session* NewH2ServerSession(const nghttp2_session_callbacks* callbacks,
                                    void* user_data, const H2Limits& limits) {
  nghttp2_option* opt = nullptr;
  if (nghttp2_option_new(&opt) != 0) return nullptr;
  nghttp2_option_set_max_outbound_ack(opt, kH2MaxOutboundAcks);
  // Nothing here uses RFC 7540 priorities: closed streams need not be kept.
  nghttp2_option_set_no_closed_streams(opt, 1);
  nghttp2_option_set_max_deflate_dynamic_table_size(opt, kH2DeflateTableBytes);
  nghttp2_session* session = nullptr;
  int rv = nghttp2_session_server_new3(&session, callbacks, user_data, opt,
                                       &kMemory);
  nghttp2_option_del(opt);
  if (rv != 0) return nullptr;
  const nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, limits.max_concurrent_streams},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, limits.max_header_list_bytes},
      {NGHTTP2_SETTINGS_HEADER_TABLE_SIZE, kH2HeaderTableBytes},
      {NGHTTP2_SETTINGS_NO_RFC7540_PRIORITIES, 1},
  };
  if (nghttp2_submit_settings(session, NGHTTP2_FLAG_NONE, settings,
                              std::size(settings)) != 0) {
    nghttp2_session_del(session);
    return nullptr;
  }
  return session;
}

}  // namespace notifyd::edge
