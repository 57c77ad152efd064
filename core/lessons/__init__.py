"""The lessons' own computations: filters, pooling, built-in pictures and photographs, data statistics."""
