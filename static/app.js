// filled in by the page work
