// soak: next
