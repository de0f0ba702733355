#pragma once
// Test harness: starts the real `realizar serve` binary on a free loopback port (--port 0; the port is read
// back from its "listening on" line), waits for /health, and always kills it at the end. Also raw-socket
// helpers for requests an HTTP client library would refuse to send, and an SSE parser.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

extern char** environ;

namespace rz::test {

using json = nlohmann::json;

inline std::string stories_gguf() { return std::string(RZ_SHARED_DIR) + "/data/tinystories-260K/stories260K-f32.gguf"; }

inline std::string read_file(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), {});
}

inline std::filesystem::path make_temp_dir(const std::string& tag) {
    static int counter = 0;
    auto dir = std::filesystem::temp_directory_path() /
               ("rz_" + tag + "_" + std::to_string(::getpid()) + "_" + std::to_string(++counter));
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    return dir;
}

// Removes a directory tree that a process which just exited may still be writing to (a browser profile: Chromium's
// helper processes outlive the browser process by a moment): retries for about 2 s and never throws. What could be
// left is a stray temporary directory, not a test failure (CI once failed with "cannot remove: Directory not empty").
inline void remove_tree_retrying(const std::filesystem::path& dir) {
    for (int i = 0; i < 20; ++i) {
        std::error_code ec;
        std::filesystem::remove_all(dir, ec);
        if (!ec && !std::filesystem::exists(dir, ec)) return;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
}

// Runs a command line through /bin/sh; returns its exit status and combined output.
inline std::pair<int, std::string> run_shell(const std::string& cmd) {
    const auto dir = make_temp_dir("sh");
    const auto out = dir / "out.txt";
    const int rc = std::system((cmd + " > " + out.string() + " 2>&1").c_str());
    std::string text = read_file(out);
    std::filesystem::remove_all(dir);
    return {WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, text};
}

class ServerProcess {
public:
    // extra: options after `serve`; --port 0 and --host 127.0.0.1 are added.
    static std::unique_ptr<ServerProcess> start(const std::vector<std::string>& extra, int wait_s = 60,
                                                bool wait_ready = true) {
        auto sp = std::unique_ptr<ServerProcess>(new ServerProcess());
        sp->dir_ = make_temp_dir("server");
        sp->log_ = sp->dir_ / "server.log";
        std::vector<std::string> args = {RZ_REALIZAR_BIN, "serve", "--host", "127.0.0.1", "--port", "0"};
        // One compute thread unless a test asks otherwise: the 260K-parameter model gains nothing from more, and
        // spinning compute threads on a busy CI machine only add latency.
        if (std::find(extra.begin(), extra.end(), "--threads") == extra.end()) {
            args.push_back("--threads");
            args.push_back("1");
        }
        args.insert(args.end(), extra.begin(), extra.end());
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 1, sp->log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        posix_spawn_file_actions_adddup2(&fa, 1, 2);
        const int rc = posix_spawn(&sp->pid_, argv[0], &fa, nullptr, argv.data(), environ);
        posix_spawn_file_actions_destroy(&fa);
        if (rc != 0) {
            ADD_FAILURE() << "posix_spawn " << RZ_REALIZAR_BIN << " failed: " << rc;
            return nullptr;
        }
        // Bounded wait for the port, then for /health.
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(wait_s);
        while (std::chrono::steady_clock::now() < deadline && sp->port_ == 0) {
            const std::string log = read_file(sp->log_);
            const auto at = log.find("listening on http://127.0.0.1:");
            if (at != std::string::npos) sp->port_ = std::atoi(log.c_str() + at + 30);
            if (sp->port_ == 0 && sp->exited()) break;
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        if (sp->port_ == 0) {
            ADD_FAILURE() << "server did not start listening; log:\n" << read_file(sp->log_);
            return nullptr;
        }
        if (!wait_ready) return sp;
        while (std::chrono::steady_clock::now() < deadline) {
            auto res = sp->client().Get("/health");
            if (res && res->status == 200) return sp;
            if (sp->exited()) break;
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        ADD_FAILURE() << "server did not become healthy; log:\n" << read_file(sp->log_);
        return nullptr;
    }

    ~ServerProcess() {
        if (pid_ > 0 && !exited_) {
            ::kill(pid_, SIGKILL);
            int st = 0;
            ::waitpid(pid_, &st, 0);
        }
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
    }

    int port() const { return port_; }
    pid_t pid() const { return pid_; }
    std::string log() const { return read_file(log_); }

    httplib::Client client(int timeout_s = 60) const {
        httplib::Client c("127.0.0.1", port_);
        c.set_read_timeout(timeout_s, 0);
        c.set_write_timeout(timeout_s, 0);
        c.set_connection_timeout(5, 0);
        return c;
    }

    bool exited() {
        if (exited_) return true;
        int st = 0;
        const pid_t r = ::waitpid(pid_, &st, WNOHANG);
        if (r == pid_) {
            exited_ = true;
            exit_status_ = st;
        }
        return exited_;
    }

    // Sends sig and waits (bounded) for the exit; returns the exit code, or -1 (timeout / killed by a signal).
    int stop(int sig = SIGTERM, int wait_s = 30) {
        if (!exited()) ::kill(pid_, sig);
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(wait_s);
        while (!exited() && std::chrono::steady_clock::now() < deadline)
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        if (!exited()) return -1;
        return WIFEXITED(exit_status_) ? WEXITSTATUS(exit_status_) : -1;
    }

    // Resident memory of the server in KiB (from /proc).
    long rss_kib() const {
        std::ifstream in("/proc/" + std::to_string(pid_) + "/status");
        std::string line;
        while (std::getline(in, line))
            if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
        return -1;
    }

private:
    ServerProcess() = default;
    std::filesystem::path dir_, log_;
    pid_t pid_ = -1;
    int port_ = 0;
    bool exited_ = false;
    int exit_status_ = 0;
};

// A raw TCP connection to the server, for malformed requests and disconnects.
class RawConn {
public:
    explicit RawConn(int port) {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(static_cast<uint16_t>(port));
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
            ::close(fd_);
            fd_ = -1;
        }
        timeval tv{5, 0};
        if (fd_ >= 0) ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    }
    ~RawConn() { close(); }
    bool ok() const { return fd_ >= 0; }
    bool send_all(const std::string& s) {
        size_t done = 0;
        while (done < s.size()) {
            const ssize_t n = ::send(fd_, s.data() + done, s.size() - done, MSG_NOSIGNAL);
            if (n <= 0) return false;
            done += static_cast<size_t>(n);
        }
        return true;
    }
    // Reads until `until` appears, the peer closes, or the receive timeout passes.
    std::string read_until(const std::string& until, size_t max_bytes = 1 << 20) {
        std::string out;
        char buf[4096];
        while (out.size() < max_bytes && (until.empty() || out.find(until) == std::string::npos)) {
            const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
            if (n <= 0) break;
            out.append(buf, static_cast<size_t>(n));
        }
        return out;
    }
    void close() {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }

private:
    int fd_ = -1;
};

inline std::string http_post(const std::string& path, const std::string& body, const std::string& extra_headers = {}) {
    return "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nConnection: close\r\n" +
           extra_headers + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

struct SseEvent {
    std::string event;  // "" when the event had no event: line
    std::string data;
};

// Parses an SSE body strictly: events separated by a blank line, each line "event: x" / "data: y" or a
// ":" comment. Any other line is a framing error (returned as nullopt).
inline std::optional<std::vector<SseEvent>> parse_sse(const std::string& body) {
    std::vector<SseEvent> out;
    size_t pos = 0;
    while (pos < body.size()) {
        const size_t end = body.find("\n\n", pos);
        if (end == std::string::npos) return std::nullopt;  // a trailing partial event
        const std::string block = body.substr(pos, end - pos);
        pos = end + 2;
        SseEvent ev;
        bool any = false;
        std::istringstream in(block);
        std::string line;
        while (std::getline(in, line)) {
            if (line.rfind(":", 0) == 0) continue;
            if (line.rfind("event: ", 0) == 0) ev.event = line.substr(7);
            else if (line.rfind("data: ", 0) == 0) ev.data = line.substr(6);
            else return std::nullopt;
            any = true;
        }
        if (any) out.push_back(ev);
    }
    return out;
}

}  // namespace rz::test
