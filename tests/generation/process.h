#pragma once
// Running the realizar binary from tests: plain (stdout/stderr captured) and on a pseudo-terminal.
#include <cstdint>
#include <string>
#include <vector>

namespace rz::runtime::testing {

struct ProcessResult {
    int exit_code = -1;  // -1: did not exit normally (signal)
    std::string out, err;
};

// Runs argv[0] with argv (no shell), feeding `input` on stdin; waits for it to exit.
ProcessResult run_process(const std::vector<std::string>& argv, const std::string& input = "");

// A child process on a pseudo-terminal (forkpty): what a user at a terminal sees and types.
class PtyProcess {
  public:
    explicit PtyProcess(const std::vector<std::string>& argv);
    ~PtyProcess();
    PtyProcess(const PtyProcess&)            = delete;
    PtyProcess& operator=(const PtyProcess&) = delete;

    bool started() const { return pid_ > 0; }
    void write(const std::string& keys);
    // Reads until `needle` appears in the output after `from` (an offset into all()); false on timeout or EOF.
    bool wait_for(const std::string& needle, double timeout_s, size_t from = 0);
    // Waits for the child to exit; returns its exit code, or -1 on timeout (the child is then killed).
    int wait_exit(double timeout_s);
    const std::string& all() const { return buf_; }  // everything read so far (stdout and stderr merged)

  private:
    bool read_some(double timeout_s);
    int fd_        = -1;
    int pid_       = -1;
    int exit_code_ = -2;
    std::string buf_;
};

}  // namespace rz::runtime::testing
