#include "generation/process.h"

#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <thread>

namespace rz::runtime::testing {

namespace {

std::vector<char*> c_argv(const std::vector<std::string>& argv) {
    std::vector<char*> v;
    for (const std::string& a : argv) v.push_back(const_cast<char*>(a.c_str()));
    v.push_back(nullptr);
    return v;
}

int decode_status(int status) {
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

ProcessResult run_process(const std::vector<std::string>& argv, const std::string& input) {
    ProcessResult r;
    int in_pipe[2], out_pipe[2], err_pipe[2];
    if (pipe(in_pipe) != 0 || pipe(out_pipe) != 0 || pipe(err_pipe) != 0) return r;
    const pid_t pid = fork();
    if (pid == 0) {
        dup2(in_pipe[0], 0);
        dup2(out_pipe[1], 1);
        dup2(err_pipe[1], 2);
        for (int fd : {in_pipe[0], in_pipe[1], out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1]}) close(fd);
        auto args = c_argv(argv);
        execv(args[0], args.data());
        _exit(127);
    }
    close(in_pipe[0]);
    close(out_pipe[1]);
    close(err_pipe[1]);
    // Write stdin and drain both outputs together, so neither side can block on a full pipe.
    size_t written = 0;
    if (input.empty()) {
        close(in_pipe[1]);
        in_pipe[1] = -1;
    } else {
        fcntl(in_pipe[1], F_SETFL, O_NONBLOCK);
    }
    bool out_open = true, err_open = true;
    char buf[8192];
    while (out_open || err_open) {
        pollfd fds[3]  = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}, {in_pipe[1], POLLOUT, 0}};
        const nfds_t n = in_pipe[1] >= 0 ? 3 : 2;
        if (poll(fds, n, 1000) < 0) continue;
        if (n == 3 && (fds[2].revents & (POLLOUT | POLLERR | POLLHUP))) {
            const ssize_t w = ::write(in_pipe[1], input.data() + written, input.size() - written);
            if (w > 0) written += static_cast<size_t>(w);
            if (w < 0 || written == input.size()) {
                close(in_pipe[1]);
                in_pipe[1] = -1;
            }
        }
        for (int i = 0; i < 2; ++i) {
            if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            const ssize_t got = read(fds[i].fd, buf, sizeof buf);
            if (got <= 0) {
                (i == 0 ? out_open : err_open) = false;
            } else {
                (i == 0 ? r.out : r.err).append(buf, static_cast<size_t>(got));
            }
        }
    }
    if (in_pipe[1] >= 0) close(in_pipe[1]);
    close(out_pipe[0]);
    close(err_pipe[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    r.exit_code = decode_status(status);
    return r;
}

PtyProcess::PtyProcess(const std::vector<std::string>& argv) {
    winsize ws{};
    ws.ws_row       = 50;
    ws.ws_col       = 200;
    int fd          = -1;
    const pid_t pid = forkpty(&fd, nullptr, nullptr, &ws);
    if (pid == 0) {
        setenv("TERM", "xterm", 1);
        auto args = c_argv(argv);
        execv(args[0], args.data());
        _exit(127);
    }
    pid_ = pid;
    fd_  = fd;
}

PtyProcess::~PtyProcess() {
    if (pid_ > 0 && exit_code_ == -2) {
        kill(pid_, SIGKILL);
        int status = 0;
        waitpid(pid_, &status, 0);
    }
    if (fd_ >= 0) close(fd_);
}

void PtyProcess::write(const std::string& keys) {
    size_t done = 0;
    while (done < keys.size()) {
        const ssize_t w = ::write(fd_, keys.data() + done, keys.size() - done);
        if (w <= 0) return;
        done += static_cast<size_t>(w);
    }
}

bool PtyProcess::read_some(double timeout_s) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(timeout_s * 1000)) <= 0) return false;
    char buf[4096];
    const ssize_t got = read(fd_, buf, sizeof buf);  // EIO once the child has exited
    if (got <= 0) return false;
    buf_.append(buf, static_cast<size_t>(got));
    return true;
}

bool PtyProcess::wait_for(const std::string& needle, double timeout_s, size_t from) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
    for (;;) {
        if (buf_.find(needle, std::min(from, buf_.size())) != std::string::npos) return true;
        const double left = std::chrono::duration<double>(deadline - std::chrono::steady_clock::now()).count();
        if (left <= 0) return false;
        if (!read_some(std::min(left, 0.2))) {
            // Distinguish "nothing yet" from "child gone": a dead child with nothing left to read ends it.
            int status = 0;
            if (exit_code_ == -2 && waitpid(pid_, &status, WNOHANG) == pid_) {
                exit_code_ = decode_status(status);
                while (read_some(0.05)) {
                }
                return buf_.find(needle, std::min(from, buf_.size())) != std::string::npos;
            }
        }
    }
}

int PtyProcess::wait_exit(double timeout_s) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
    while (exit_code_ == -2) {
        int status = 0;
        if (waitpid(pid_, &status, WNOHANG) == pid_) {
            exit_code_ = decode_status(status);
            break;
        }
        if (std::chrono::steady_clock::now() > deadline) return -1;
        read_some(0.05);  // keep the pty drained so the child never blocks on output
    }
    return exit_code_;
}

}  // namespace rz::runtime::testing
