import streamlit as st
from ui.nav import ensure_navigation
ensure_navigation()
st.title("Convolution arithmetic")
