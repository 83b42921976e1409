// Replays fuzz inputs without libFuzzer: calls the harness's LLVMFuzzerTestOneInput on every
// regular file in the directories (or files) named on the command line, in sorted order, and
// prints how many it ran. A harness aborts on a finding, so a nonzero exit means an input
// broke megalide again; the last "replaying" line names it. Exits 1 if no input was found,
// so a misplaced corpus cannot pass silently. Used by CTest (fuzz.replay.<harness>).
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

namespace fs = std::filesystem;

int main(int argc, char **argv) {
    std::vector<fs::path> inputs;
    for (int i = 1; i < argc; ++i) {
        const fs::path arg = argv[i];
        if (fs::is_directory(arg)) {
            for (const fs::directory_entry &e : fs::recursive_directory_iterator(arg)) {
                const std::string name = e.path().filename().string();
                // README and .gitkeep describe a directory; they are not inputs.
                if (e.is_regular_file() && name != "README.md" && name != ".gitkeep") inputs.push_back(e.path());
            }
        } else if (fs::is_regular_file(arg)) {
            inputs.push_back(arg);
        } else {
            std::fprintf(stderr, "replay: %s is neither a file nor a directory\n", argv[i]);
            return 1;
        }
    }
    std::sort(inputs.begin(), inputs.end());
    if (inputs.empty()) {
        std::fprintf(stderr, "replay: no inputs found\n");
        return 1;
    }
    for (const fs::path &p : inputs) {
        std::fprintf(stderr, "replaying %s\n", p.c_str());
        std::ifstream in(p, std::ios::binary);
        const std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        if (!in.good() && !in.eof()) {
            std::fprintf(stderr, "replay: cannot read %s\n", p.c_str());
            return 1;
        }
        LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t *>(bytes.data()), bytes.size());
    }
    std::printf("replayed %zu inputs, no finding\n", inputs.size());
    return 0;
}
