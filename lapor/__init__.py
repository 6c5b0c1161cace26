"""The national LAPOR! adapter: its client, the field and status mapping, and lapor-sim."""
