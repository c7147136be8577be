"""Mail: templates to subject/text/HTML, once per segment, then MIME bytes and DKIM."""
