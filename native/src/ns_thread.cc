#include "ns_thread.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>

#include <exception>
#include <string>
#include <pthread.h>

#include "sys_error.h"
#include "unique_fd.h"

namespace {

UniqueFd OpenForNamespace(const std::string& path, int flags) {
  UniqueFd fd(::open(path.c_str(), flags | O_CLOEXEC));
  if (fd.Get() < 0) ThrowErrno("open", path, "open-ns");
  return fd;
}

void EnterAndRun(int pid, const std::function<void(const ContainerRoot&)>& work) {
  const std::string proc = "/proc/" + std::to_string(pid);
  const std::string root_path = proc + "/root";
  const std::string ns_path = proc + "/ns/mnt";
  // All opened before setns: afterwards /proc may be the container's (another
  // PID namespace, or none at all).
  UniqueFd root = OpenForNamespace(root_path, O_PATH | O_DIRECTORY);
  UniqueFd ns = OpenForNamespace(ns_path, O_RDONLY);
  UniqueFd own_fds_dir = OpenForNamespace("/proc/thread-self/fd", O_PATH | O_DIRECTORY);

  // The kernel refuses setns(CLONE_NEWNS) to a thread that shares its
  // fs_struct (root, cwd, umask) with other threads.
  if (::unshare(CLONE_FS) != 0) ThrowErrno("unshare(CLONE_FS)", {}, "unshare");
  if (::setns(ns.Get(), CLONE_NEWNS) != 0) ThrowErrno("setns(CLONE_NEWNS)", ns_path, "setns");
  // Modes passed to mknodat/mkdirat are then exactly the modes created.
  ::umask(0);

  work(ContainerRoot{root.Get(), own_fds_dir.Get()});
}

}  // namespace

namespace {

struct Job {
  int pid;
  const std::function<void(const ContainerRoot&)>* work;
  std::exception_ptr failure;
};

void* RunJob(void* arg) {
  Job* job = static_cast<Job*>(arg);
  try {
    EnterAndRun(job->pid, *job->work);
  } catch (...) {
    job->failure = std::current_exception();
  }
  return nullptr;
}

int StartWorker(pthread_t* thread, Job* job, bool pin) {
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 256 * 1024);
  const int cpu = pin ? ::sched_getcpu() : -1;
  if (cpu >= 0) {
    cpu_set_t cpus;
    CPU_ZERO(&cpus);
    CPU_SET(cpu, &cpus);
    pthread_attr_setaffinity_np(&attr, sizeof(cpus), &cpus);
  }
  const int err = pthread_create(thread, &attr, RunJob, job);
  pthread_attr_destroy(&attr);
  return err;
}

}  // namespace

void RunInMountNamespace(int pid, const std::function<void(const ContainerRoot&)>& work) {
  Job job{pid, &work, nullptr};
  pthread_t thread;
  // The caller only waits, so the worker is started on the caller's CPU: on a
  // virtual machine, waking an idle vCPU for it (and waking the caller back on
  // another one) costs several times more than the work itself. Measured on
  // this project's 2-vCPU VM: 0.85 ms per entry unpinned, 0.14 ms pinned.
  int err = StartWorker(&thread, &job, /*pin=*/true);
  if (err == EINVAL) err = StartWorker(&thread, &job, /*pin=*/false);
  if (err != 0) throw SysError(err, "pthread_create", {}, "thread");
  pthread_join(thread, nullptr);
  if (job.failure) std::rethrow_exception(job.failure);
}
