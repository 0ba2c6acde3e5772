// tools/serve_command.cc: `allocwatch serve [--listen HOST:PORT] DIR...`: live pprof profiles of
// the recordings in DIR over HTTP, as Go programs serve theirs at /debug/pprof/heap and
// /debug/pprof/allocs, for continuous-profiling scrapers (Parca, Grafana Alloy/Pyroscope) and
// `go tool pprof`. The HTTP server is cpp-httplib; the recordings are followed incrementally
// (ProfileStore).
#include <signal.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <iostream>
#include <sstream>
#include <thread>

#include "httplib.h"
#include "report/analysis/number_format.h"
#include "spdlog/spdlog.h"
#include "tools/commands.h"
#include "tools/profile_store.h"

namespace allocwatch::tools {
namespace {

constexpr int kMaxDeltaSeconds = 600;

std::string HtmlEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string IndexPage(const std::vector<FollowedInfo>& processes) {
  std::ostringstream out;
  out << "<!doctype html><html><head><meta charset=\"utf-8\"><title>allocwatch: /debug/pprof/"
         "</title></head><body><h1>allocwatch: /debug/pprof/</h1>\n"
      << "<p>Profiles: <a href=\"heap\">heap</a> (inuse_space by default) and "
         "<a href=\"allocs\">allocs</a> (alloc_space by default) of every running process, or "
         "of one with <code>?pid=N</code>; <code>&amp;seconds=S</code> for what changed over the "
         "next S seconds.</p>\n<table border=\"1\" cellpadding=\"4\"><tr><th>pid</th>"
         "<th>program</th><th>state</th><th>mode</th><th>since</th><th>profiles</th>"
         "<th>recording</th></tr>\n";
  for (const FollowedInfo& p : processes) {
    std::time_t since = static_cast<std::time_t>(p.start_realtime_ns / 1000000000);
    char when[64] = "";
    if (since > 0) std::strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", std::gmtime(&since));
    std::string mode =
        p.exact ? "exact"
                : "sampled every " + report::FormatBytes(static_cast<double>(p.sample_bytes));
    std::string pid = std::to_string(p.pid);
    out << "<tr><td>" << pid << "</td><td>" << HtmlEscape(p.program) << "</td><td>"
        << HtmlEscape(p.state) << "</td><td>" << mode << "</td><td>" << when
        << "</td><td><a href=\"heap?pid=" << pid << "\">heap</a> <a href=\"allocs?pid=" << pid
        << "\">allocs</a></td><td>" << HtmlEscape(p.path) << "</td></tr>\n";
  }
  out << "</table>\n<p>These pages show the programs' call stacks: put this endpoint behind your "
         "platform's authentication.</p></body></html>\n";
  return out.str();
}

// The number in parameter `name`, in [low, high]; nullopt when absent. Sets *bad (and the
// response) when present but not such a number.
std::optional<uint32_t> Number(const httplib::Request& req, const char* name, uint32_t low,
                               uint32_t high, httplib::Response& res, bool* bad) {
  if (!req.has_param(name)) return std::nullopt;
  std::string v = req.get_param_value(name);
  if (v.empty() || v.size() > 9 || v.find_first_not_of("0123456789") != std::string::npos ||
      std::stoul(v) < low || std::stoul(v) > high) {
    res.status = 400;
    res.set_content(std::string(name) + ": want a number from " + std::to_string(low) + " to " +
                        std::to_string(high) + ", not '" + v + "'\n",
                    "text/plain");
    *bad = true;
    return std::nullopt;
  }
  return static_cast<uint32_t>(std::stoul(v));
}

void ServeProfile(ProfileStore& store, const std::string& default_type, const std::string& name,
                  const httplib::Request& req, httplib::Response& res) {
  bool bad = false;
  std::optional<uint32_t> pid = Number(req, "pid", 1, 0x7fffffff, res, &bad);
  std::optional<uint32_t> seconds = Number(req, "seconds", 1, kMaxDeltaSeconds, res, &bad);
  if (bad) return;
  ProfileError error{200, ""};
  std::string body;
  if (seconds) {
    // A delta profile, as Go's: what changed over the next `seconds`.
    std::map<uint32_t, StackFigures> before = store.Figures(pid, &error);
    if (error.status == 200) {
      std::this_thread::sleep_for(std::chrono::seconds(*seconds));
      store.Update();
      body = store.Profile(pid, default_type, &before, &error);
    }
  } else {
    body = store.Profile(pid, default_type, nullptr, &error);
  }
  if (error.status != 200) {
    res.status = error.status;
    res.set_content(error.message + "\n", "text/plain");
    return;
  }
  res.set_header("Content-Disposition", "attachment; filename=\"" + name + ".pb.gz\"");
  res.set_header("X-Content-Type-Options", "nosniff");
  res.set_content(body, "application/octet-stream");
}

bool Loopback(const std::string& host) {
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

}  // namespace

int RunServe(const ServeCommandOptions& o) {
  std::string host = "127.0.0.1";
  int port = 6060;
  if (!o.listen.empty()) {
    size_t colon = o.listen.rfind(':');
    std::string port_text = colon == std::string::npos ? "" : o.listen.substr(colon + 1);
    if (colon == std::string::npos || port_text.empty() ||
        port_text.find_first_not_of("0123456789") != std::string::npos || port_text.size() > 5 ||
        std::stoi(port_text) > 65535) {
      spdlog::error("--listen {}: want HOST:PORT, such as 127.0.0.1:6060", o.listen);
      return 2;
    }
    host = o.listen.substr(0, colon);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
      host = host.substr(1, host.size() - 2);
    }
    port = std::stoi(port_text);
  }
  if (!Loopback(host)) {
    spdlog::warn(
        "listening on {}: every host that reaches it sees the recorded programs' call "
        "stacks; put it behind your platform's authentication",
        host);
  }
  ProfileStore store(o.dirs, o.max_recordings);
  store.Update();

  // SIGINT and SIGTERM stop the server; every thread started below inherits the mask.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  httplib::Server server;
  // cpp-httplib gives each connection a worker until it closes: many workers, and connections
  // kept open briefly, so that hundreds of scrapers at once are all answered in turn.
  server.new_task_queue = [] { return new httplib::ThreadPool(64); };
  server.set_keep_alive_max_count(4);
  server.set_keep_alive_timeout(1);
  auto index = [&](const httplib::Request&, httplib::Response& res) {
    res.set_content(IndexPage(store.List()), "text/html; charset=utf-8");
  };
  server.Get("/", index);
  server.Get("/debug/pprof", index);
  server.Get("/debug/pprof/", index);
  server.Get("/debug/pprof/heap", [&](const httplib::Request& req, httplib::Response& res) {
    ServeProfile(store, "inuse_space", "heap", req, res);
  });
  server.Get("/debug/pprof/allocs", [&](const httplib::Request& req, httplib::Response& res) {
    ServeProfile(store, "alloc_space", "allocs", req, res);
  });
  server.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    std::string what = res.status == 404 ? "unknown path " + req.path +
                                               ": profiles are at /debug/pprof/heap and "
                                               "/debug/pprof/allocs, the index at /debug/pprof/"
                                         : "bad request";
    res.set_content(what + "\n", "text/plain");
  });
  if (!server.bind_to_port(host, port)) {
    spdlog::error("cannot listen on {}:{} (in use, or not an address of this host)", host, port);
    return 1;
  }

  std::mutex mu;
  std::condition_variable wake;
  bool stopping = false;
  std::thread updater([&] {
    std::unique_lock<std::mutex> lock(mu);
    while (!wake.wait_for(lock, std::chrono::seconds(1), [&] { return stopping; })) {
      lock.unlock();
      store.Update();
      lock.lock();
    }
  });
  std::thread stopper([&] {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    server.stop();
  });
  std::cerr << "allocwatch serve: http://"
            << (host.find(':') != std::string::npos ? "[" + host + "]" : host) << ":" << port
            << "/debug/pprof/ (" << store.List().size() << " recordings)\n";
  bool ok = server.listen_after_bind();
  {
    std::lock_guard<std::mutex> hold(mu);
    stopping = true;
  }
  wake.notify_all();
  updater.join();
  pthread_kill(stopper.native_handle(), SIGTERM);  // wakes its sigwait when no signal came
  stopper.join();
  return ok ? 0 : 1;
}

}  // namespace allocwatch::tools
