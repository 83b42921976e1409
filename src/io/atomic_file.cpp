// include/megalide/io/atomic_file.h: write a temporary file, fsync, rename, fsync the directory.
#include "megalide/io/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>

#include "megalide/error.h"

namespace megalide {
namespace {

bool write_all(int fd, const uint8_t *p, size_t n) {
    while (n > 0) {
        const ssize_t r = ::write(fd, p, std::min<size_t>(n, size_t{1} << 30));
        if (r < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        p += r;
        n -= static_cast<size_t>(r);
    }
    return true;
}

std::string directory_of(const std::string &path) {
    const size_t slash = path.find_last_of('/');
    if (slash == std::string::npos) return ".";
    return slash == 0 ? "/" : path.substr(0, slash);
}

}  // namespace

void write_file_atomically(const std::string &path, const std::vector<Bytes> &pieces) {
    static std::atomic<unsigned> counter{0};
    std::string tmp;
    int fd = -1;
    for (int attempt = 0; fd < 0; attempt++) {
        tmp = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
        fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0 && (errno != EEXIST || attempt >= 100)) {
            throw Error(path + ": cannot create temporary file '" + tmp + "': " + std::strerror(errno));
        }
    }
    auto abandon = [&](const std::string &what) {
        const std::string reason = std::strerror(errno);
        if (fd >= 0) ::close(fd);
        ::unlink(tmp.c_str());
        throw Error(path + ": " + what + ": " + reason);
    };
    for (const Bytes &piece : pieces) {
        if (!write_all(fd, static_cast<const uint8_t *>(piece.data), piece.size)) abandon("cannot write temporary file '" + tmp + "'");
    }
    if (::fsync(fd) != 0) abandon("cannot sync temporary file '" + tmp + "'");
    const int closed = ::close(fd);
    fd = -1;
    if (closed != 0) abandon("cannot close temporary file '" + tmp + "'");
    if (::rename(tmp.c_str(), path.c_str()) != 0) abandon("cannot rename temporary file '" + tmp + "' to it");
    // The rename itself reaches the disk with the directory.
    const int dir = ::open(directory_of(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir >= 0) {
        ::fsync(dir);
        ::close(dir);
    }
}

}  // namespace megalide
