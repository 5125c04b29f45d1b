/* A libsnncore built without the file loader still has its entry points: they fail
 * with SNN_E_UNSUPPORTED and say why. */
#include "check.h"
#include "snn.h"

#include <string.h>

int main(void)
{
    snn_error e;
    CHECK(snn_has_loader() == 0);
    CHECK(snn_file_read("net.npz", NULL, &e) == NULL && e.status == SNN_E_UNSUPPORTED);
    CHECK(strstr(e.message, "without the file loader") != NULL);
    CHECK(snn_load_file("net.npz", NULL, &e) == NULL && e.status == SNN_E_UNSUPPORTED);
    CHECK(snn_load_memory("x", 1, NULL, &e) == NULL && e.status == SNN_E_UNSUPPORTED);
    CHECK(snn_file_read_memory("x", 1, NULL, NULL) == NULL);
    CHECK(snn_file_build(NULL, NULL, &e) == NULL && e.status == SNN_E_UNSUPPORTED);
    CHECK(snn_file_desc(NULL) == NULL && snn_file_get_info(NULL) == NULL);
    snn_file_free(NULL);
    CHECK_DONE();
}
