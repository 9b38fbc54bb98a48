#include "bench/asio_connect.h"

#include <netinet/in.h>

#include <boost/asio/buffer.hpp>
#include <boost/asio/write.hpp>
#include <utility>

#include "absl/strings/str_cat.h"

namespace notifyd::bench {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;

// Linux: reserve the source port at connect() (by 4-tuple), not at bind(),
// so one source address serves many servers and many processes.
using BindNoPort = asio::detail::socket_option::boolean<IPPROTO_IP, 24>;

}  // namespace

void ConnectAndSend(tcp::socket& socket, const asio::ip::address& source,
                    const tcp::endpoint& server, const std::string& request,
                    std::function<void(const std::string& error)> done) {
  boost::system::error_code ec;
  socket.open(server.protocol(), ec);
  if (!ec) socket.set_option(BindNoPort(true), ec);
  if (!ec) socket.bind(tcp::endpoint(source, 0), ec);
  if (ec) return done(absl::StrCat("socket: ", ec.message()));
  socket.async_connect(server, [&socket, &request, done = std::move(done)](
                                   boost::system::error_code ec) mutable {
    if (ec) return done(absl::StrCat("connect: ", ec.message()));
    socket.set_option(tcp::no_delay(true), ec);
    socket.non_blocking(true, ec);
    asio::async_write(
        socket, asio::buffer(request),
        [done = std::move(done)](boost::system::error_code ec, size_t) {
          done(ec ? absl::StrCat("write: ", ec.message()) : std::string());
        });
  });
}

}  // namespace notifyd::bench
