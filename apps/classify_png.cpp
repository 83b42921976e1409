// classify_png: runs an image classifier compiled by `megalide compile` on PNG files and
// prints one prediction per image; where file names start with the label ("7_012.png"), also
// the accuracy. It uses nothing of megalide's library but the generated header: the library's
// entry function, its metadata (argument shapes) and Halide's buffer struct (which the header of
// a `megalide compile` library carries).
//
//   classify_png [--runs N] IMAGE.png...
//
// Built against one library, named by two macros:
//   c++ -O2 -std=c++17 -I OUTDIR -DMODEL_HEADER='"digits.h"' -DMODEL_FN=digits \
//       apps/classify_png.cpp OUTDIR/digits.a -lpng -lpthread -ldl -o classify_digits
//
// The model takes one float32 input of shape (1, C, H, W), C = 1 (grayscale) or 3 (RGB),
// with pixels scaled to [0, 1] (byte / 255), and returns one float32 score per class,
// (1, classes). A PNG of another size, or a file that is not a PNG, is an error (exit 1).
// --runs N: also time N calls on the first image and print the median, min and max.
//
// Exit status: 0, 1 for a bad image or --runs value (the message names it), 2 for a malformed
// command line. Besides libpng it needs CLI11's headers (Debian's libcli11-dev, on the default
// include path) and megalide's header-only timer, reached by a relative path.
#include <png.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "../include/megalide/runtime/timer.h"
#include MODEL_HEADER
#ifndef HALIDE_HALIDERUNTIME_H
// Headers of libraries built without their own runtime (add_halide_library's) declare the
// buffer struct only; Halide's runtime header defines it.
#include "HalideRuntime.h"
#endif

#define MEGALIDE_CONCAT2(a, b) a##b
#define MEGALIDE_CONCAT(a, b) MEGALIDE_CONCAT2(a, b)
#define MODEL_METADATA MEGALIDE_CONCAT(MODEL_FN, _metadata)
#define MODEL_NAME_STRING2(x) #x
#define MODEL_NAME_STRING(x) MODEL_NAME_STRING2(x)

namespace {

[[noreturn]] void fail(const std::string &message) {
    std::fprintf(stderr, "classify_png: error: %s\n", message.c_str());
    std::exit(1);
}

// A dense float32 buffer with Halide's dimension order (innermost first).
struct Tensor {
    std::vector<float> data;
    std::vector<halide_dimension_t> dims;
    halide_buffer_t buffer{};

    explicit Tensor(const std::vector<int> &extents) {
        int stride = 1;
        for (int e : extents) {
            dims.push_back(halide_dimension_t{0, e, stride, 0});
            stride *= e;
        }
        data.assign(static_cast<size_t>(stride), 0.0f);
        buffer.host = reinterpret_cast<uint8_t *>(data.data());
        buffer.type = halide_type_t(halide_type_float, 32, 1);
        buffer.dimensions = static_cast<int32_t>(dims.size());
        buffer.dim = dims.data();
    }
};

// The extents of argument `index` from the library's metadata (its shape estimates).
std::vector<int> extents_of(const halide_filter_metadata_t *md, int index) {
    const halide_filter_argument_t &a = md->arguments[index];
    if (a.type.code != halide_type_float || a.type.bits != 32) fail(std::string("argument '") + a.name + "' is not float32");
    std::vector<int> extents;
    for (int d = 0; d < a.dimensions; ++d) {
        const int64_t *e = a.buffer_estimates ? a.buffer_estimates[2 * d + 1] : nullptr;
        if (!e) fail(std::string("the library does not record the shape of argument '") + a.name + "'");
        extents.push_back(static_cast<int>(*e));
    }
    return extents;
}

// Reads `path` into `input` (Halide order: W, H, C, N), pixels scaled to [0, 1].
void read_png(const std::string &path, Tensor &input) {
    const int width = input.dims[0].extent, height = input.dims[1].extent, channels = input.dims[2].extent;
    png_image image;
    std::memset(&image, 0, sizeof image);
    image.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&image, path.c_str())) fail(path + ": not a readable PNG file (" + image.message + ")");
    if (static_cast<int>(image.width) != width || static_cast<int>(image.height) != height) {
        png_image_free(&image);
        fail(path + ": the image is " + std::to_string(image.width) + "x" + std::to_string(image.height) + " pixels; the model takes " +
             std::to_string(width) + "x" + std::to_string(height));
    }
    image.format = channels == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
    std::vector<uint8_t> pixels(PNG_IMAGE_SIZE(image));
    if (!png_image_finish_read(&image, nullptr, pixels.data(), 0, nullptr)) fail(path + ": cannot decode (" + image.message + ")");
    for (int c = 0; c < channels; ++c)
        for (int y = 0; y < height; ++y)
            for (int x = 0; x < width; ++x) {
                input.data[(static_cast<size_t>(c) * height + y) * width + x] = pixels[(static_cast<size_t>(y) * width + x) * channels + c] / 255.0f;
            }
}

// The label a file name starts with ("7_012.png" -> 7), or -1.
int label_of(const std::string &path) {
    const size_t slash = path.find_last_of('/');
    const std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
    const size_t underscore = name.find('_');
    if (underscore == 0 || underscore == std::string::npos) return -1;
    for (size_t i = 0; i < underscore; ++i) {
        if (name[i] < '0' || name[i] > '9') return -1;
    }
    return std::atoi(name.substr(0, underscore).c_str());
}

struct Options {
    int runs = 0;
    std::vector<std::string> files;
};

// Returns the options, or exits: 0 after the usage for -h or --help, 2 for a malformed command
// line (with CLI11's message), 1 for a bad --runs count.
Options parse(int argc, char **argv) {
    const char *usage = "usage: classify_png [--runs N] IMAGE.png...\n";
    Options o;
    std::string runs;
    CLI::App app("classifies PNG images with a compiled model", "classify_png");
    app.add_option("--runs", runs, "also time N calls on the first image")->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    app.add_option("IMAGE.png", o.files, "the images");
    try {
        app.parse(argc, argv);
        if (o.files.empty()) throw CLI::RequiredError("no image given", CLI::ExitCodes::RequiredError);
    } catch (const CLI::Success &) {
        std::fprintf(stderr, "%s", usage);
        std::exit(0);
    } catch (const CLI::ParseError &e) {
        std::fprintf(stderr, "classify_png: %s\n%s", e.what(), usage);
        std::exit(2);
    }
    if (!runs.empty()) {
        char *end = nullptr;
        const long n = std::strtol(runs.c_str(), &end, 10);
        if (*end || n < 1 || n > 1000000) fail("--runs needs a positive count, got '" + runs + "'");
        o.runs = static_cast<int>(n);
    }
    return o;
}

}  // namespace

int main(int argc, char **argv) {
    const Options options = parse(argc, argv);
    const std::vector<std::string> &files = options.files;
    const int runs = options.runs;

    const halide_filter_metadata_t *md = MODEL_METADATA();
    if (md->num_arguments != 2) fail("the model must take one input and give one output");
    const std::vector<int> in_extents = extents_of(md, 0), out_extents = extents_of(md, 1);
    if (in_extents.size() != 4 || in_extents[3] != 1 || (in_extents[2] != 1 && in_extents[2] != 3)) {
        fail("the model's input must be (1, 1 or 3, H, W)");
    }
    if (out_extents.size() != 2 || out_extents[1] != 1) fail("the model's output must be (1, classes)");
    Tensor input(in_extents), scores(out_extents);
    const int classes = out_extents[0];

    int labelled = 0, correct = 0;
    for (const std::string &path : files) {
        read_png(path, input);
        if (int err = MODEL_FN(&input.buffer, &scores.buffer)) fail(path + ": the model failed (Halide error " + std::to_string(err) + ")");
        const int predicted = static_cast<int>(std::max_element(scores.data.begin(), scores.data.begin() + classes) - scores.data.begin());
        const int label = label_of(path);
        std::printf("%s: %d", path.c_str(), predicted);
        if (label >= 0) {
            ++labelled;
            correct += predicted == label;
            std::printf(" (label %d%s)", label, predicted == label ? "" : ", wrong");
        }
        std::printf("\n");
    }
    if (labelled) std::printf("accuracy: %d/%d = %.1f%%\n", correct, labelled, 100.0 * correct / labelled);

    if (runs) {
        read_png(files[0], input);
        const megalide::Timings t = megalide::time_calls(runs, [&] { MODEL_FN(&input.buffer, &scores.buffer); });
        std::printf("latency of %s: median %.2f us (min %.2f, max %.2f) over %d runs\n", MODEL_NAME_STRING(MODEL_FN),
                    1000 * t.median_ms, 1000 * t.min_ms, 1000 * t.max_ms, runs);
    }
    return 0;
}
