"""The compiler behind ``cr.jit``: graph passes (``passes``) and code generation (``codegen``)."""
