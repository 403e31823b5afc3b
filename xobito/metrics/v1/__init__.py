# Generated from proto/ by tools/protogen.py; do not edit.
