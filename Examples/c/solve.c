/*
 * The C ABI (include/hyperreg.h) from C: a 6 x 2 exp problem in CSR form, solved with a
 * callback that prints each iteration, then the result and the error path. Built and run by
 * scripts/python-test.sh (so CI checks the header against the library):
 *
 *     swift build -c release --product CHyperReg
 *     cc -std=c11 -Wall -Werror -Iinclude Examples/c/solve.c -L.build/release -lCHyperReg \
 *        -Wl,-rpath,.build/release -o /tmp/hyperreg-c && /tmp/hyperreg-c
 */
#include <stdio.h>
#include <string.h>

#include "hyperreg.h"

static int progress(int64_t iteration, double loss, double gradient_norm, double relative, double step,
                    double seconds, void *user_data) {
    int *calls = user_data;
    ++*calls;
    printf("iteration %lld: loss %.6g, ||g|| %.3g (relative %.3g), step %.3g, %.4f s\n", (long long)iteration, loss,
           gradient_norm, relative, step, seconds);
    return 0; /* continue */
}

int main(void) {
    /* A = [1 0; 0 1; 1 1; 1 -1; 2 0; 0 2] (6 x 2), 64-bit indices as scipy's int64 indptr. */
    const int64_t offsets[] = {0, 1, 2, 4, 6, 7, 8};
    const int64_t columns[] = {0, 1, 0, 1, 0, 1, 0, 1};
    const double values[] = {1, 1, 1, 1, 1, -1, 2, 2};
    const double b[] = {0.1, 0.2, 0.3, 0.1, 0.2, 0.1};
    const double w = 0.01;
    hyperreg_error *error = NULL;
    hyperreg_problem *problem = NULL;
    if (hyperreg_problem_create(6, 2, 8, offsets, columns, 64, values, b, &w, 1, "exp", &problem, &error) != HYPERREG_OK) {
        fprintf(stderr, "error %d: %s\n", hyperreg_error_code(error), hyperreg_error_message(error));
        hyperreg_error_free(error);
        return 1;
    }
    hyperreg_options *options = hyperreg_options_create();
    int calls = 0;
    hyperreg_options_set_callback(options, progress, &calls, NULL);
    double x[2];
    hyperreg_result *result = NULL;
    if (hyperreg_solve(problem, options, NULL, x, &result, &error) != HYPERREG_OK) {
        fprintf(stderr, "error %d: %s\n", hyperreg_error_code(error), hyperreg_error_message(error));
        hyperreg_error_free(error);
        return 1;
    }
    printf("hyperreg %s: status %s (success %d) after %lld iterations, L = %.17g, x = (%.17g, %.17g)\n",
           hyperreg_version(), hyperreg_result_status(result), hyperreg_result_success(result),
           (long long)hyperreg_result_iterations(result), hyperreg_result_final_loss(result), x[0], x[1]);
    const char *json = NULL;
    int ok = hyperreg_result_report(result, &json, NULL) == HYPERREG_OK && strstr(json, "\"status\"") != NULL;
    int success = hyperreg_result_success(result) == 1 && calls == hyperreg_result_iterations(result) + 1;

    /* An error: an unknown Hessian strategy, reported as a code and a message. */
    int code = hyperreg_options_set_hessian(options, "magic", &error);
    printf("set_hessian(\"magic\"): code %d: %s\n", code, hyperreg_error_message(error));
    ok = ok && code == HYPERREG_ERROR_INVALID_OPTIONS;
    hyperreg_error_free(error);

    hyperreg_result_free(result);
    hyperreg_options_free(options);
    hyperreg_problem_free(problem);
    return ok && success ? 0 : 1;
}
